package runtimes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

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

// stampFileName holds the sha256 of the image a directory was unpacked
// from. It sits inside the unpacked directory so that it appears and
// disappears with it in one rename.
const stampFileName = ".actiond-image-sha256"

// UnpackImage unpacks the SquashFS image into dir with unsquashfs, for
// hosts where mounting is not allowed. It unpacks into a temporary sibling
// and renames it into place, so dir is either complete or absent; if dir
// already holds this image (same sha256), it does nothing.
func UnpackImage(ctx context.Context, image, dir string) error {
	sum, err := fileSHA256(image)
	if err != nil {
		return err
	}
	if stamp, err := os.ReadFile(filepath.Join(dir, stampFileName)); err == nil && strings.TrimSpace(string(stamp)) == sum {
		return nil
	}
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".unpack-")
	if err != nil {
		return err
	}
	defer removeAll(tmp)
	unpacked := filepath.Join(tmp, "image")
	// unsquashfs creates the -d directory itself; -no-xattrs because
	// runtime images have none and unprivileged users cannot set them.
	cmd := exec.CommandContext(ctx, "unsquashfs", "-no-progress", "-no-xattrs", "-d", unpacked, image)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("unsquashfs %s: %w: %s", image, err, strings.TrimSpace(lastLines(string(out), 5)))
	}
	if err := os.WriteFile(filepath.Join(unpacked, stampFileName), []byte(sum+"\n"), 0o444); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err == nil {
		old := filepath.Join(tmp, "old")
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("moving the previous %s aside: %w", dir, err)
		}
	}
	if err := os.Rename(unpacked, dir); err != nil {
		return err
	}
	return nil
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// removeAll removes a tree that may contain read-only directories (images
// have 0555 directories), which os.RemoveAll cannot empty as non-root.
func removeAll(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
