//go:build linux

package runtimes

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MountImage loop-mounts the SquashFS image read-only (nosuid, nodev) at
// mountpoint, which must exist, and makes the mount private so that mounts
// below it never propagate. It needs CAP_SYS_ADMIN. The loop device is set
// up with LOOP_CONFIGURE through /dev/loop-control and autoclears, so
// cleanup (unmount) also frees it.
func MountImage(ctx context.Context, image, mountpoint string) (cleanup func() error, err error) {
	f, err := os.Open(image)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	loopDev, loop, err := attachLoop(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("attaching %s to a loop device: %w", image, err)
	}
	// Closing our fd after the mount leaves the mount as the only user, so
	// LO_FLAGS_AUTOCLEAR detaches the device at unmount.
	defer loop.Close()
	if err := unix.Mount(loopDev, mountpoint, "squashfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		_ = unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_CLR_FD, 0)
		return nil, fmt.Errorf("mounting %s (%s) at %s: %w", image, loopDev, mountpoint, err)
	}
	if err := unix.Mount("", mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		_ = unix.Unmount(mountpoint, unix.MNT_DETACH)
		return nil, fmt.Errorf("making %s private: %w", mountpoint, err)
	}
	return func() error {
		if err := unix.Unmount(mountpoint, 0); err != nil {
			return fmt.Errorf("unmounting %s: %w", mountpoint, err)
		}
		return nil
	}, nil
}

// attachLoop binds f to a free loop device, retrying when another process
// takes the device between LOOP_CTL_GET_FREE and LOOP_CONFIGURE.
func attachLoop(ctx context.Context, f *os.File) (string, *os.File, error) {
	control, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", nil, err
	}
	defer control.Close()
	var lastErr error
	for range 16 {
		if err := ctx.Err(); err != nil {
			return "", nil, err
		}
		n, err := unix.IoctlRetInt(int(control.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", nil, fmt.Errorf("LOOP_CTL_GET_FREE: %w", err)
		}
		name := fmt.Sprintf("/dev/loop%d", n)
		loop, err := os.OpenFile(name, os.O_RDONLY, 0)
		if err != nil {
			return "", nil, err
		}
		config := unix.LoopConfig{
			Fd: uint32(f.Fd()),
			Info: unix.LoopInfo64{
				Flags: unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR,
			},
		}
		copy(config.Info.File_name[:], f.Name())
		err = unix.IoctlLoopConfigure(int(loop.Fd()), &config)
		if err == nil {
			return name, loop, nil
		}
		loop.Close()
		if !errors.Is(err, unix.EBUSY) {
			return "", nil, fmt.Errorf("LOOP_CONFIGURE %s: %w", name, err)
		}
		lastErr = err
	}
	return "", nil, fmt.Errorf("no free loop device after 16 attempts: %w", lastErr)
}
