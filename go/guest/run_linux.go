//go:build linux

package guest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure PID 1.
type Options struct {
	Logger *slog.Logger
	// Level is the logger's level, set from actiond.log_level.
	Level *slog.LevelVar
	// Console receives the failure line; the daemon's stdout and stderr
	// are this file too.
	Console *os.File
	// Formatter makes ext4 on an empty CAS disk (DefaultFormatter in the
	// guest).
	Formatter Formatter
}

// DefaultFormatter runs the mke2fs the initramfs carries: Debian's, with
// its libraries at their Debian paths (the loader finds them through
// LD_LIBRARY_PATH, as the initramfs has no ld.so.cache).
func DefaultFormatter() Formatter {
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	return Formatter{
		Mke2fs: "/sbin/mke2fs",
		Env:    []string{"PATH=/sbin:/bin", "LD_LIBRARY_PATH=/lib/" + triplet + ":/usr/lib/" + triplet},
	}
}

// deviceWait bounds the wait for a named disk to appear in /dev.
const deviceWait = 5 * time.Second

// Run is PID 1: the boot steps, then the daemon as a child process, then,
// when it exits, the shutdown. It never returns: it powers the VM off,
// after printing "actiond guest: <step>: <cause>" on the console when a
// step failed.
func Run(opts Options) {
	err := boot(opts)
	if err != nil {
		fmt.Fprintln(opts.Console, err.Error())
	}
	poweroff(opts.Logger)
}

// boot runs the steps and supervises the daemon. Whatever it mounted is
// unmounted before it returns.
func boot(opts Options) (err error) {
	ctx := context.Background()
	logger := opts.Logger
	var mounted []string
	defer func() {
		unix.Sync()
		if uerr := unmountAll(mounted); uerr != nil {
			logger.Warn("unmounting", slog.Any("error", uerr))
			// A file system still busy is made read-only, so what is on
			// disk is consistent when the power goes.
			for _, t := range []string{CASDir} {
				_ = unix.Mount("", t, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
			}
		}
		unix.Sync()
	}()
	if err := step("mount", func() error {
		for _, m := range EarlyMounts() {
			if err := mountUnder("/", m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := step("cgroup", func() error {
		missing, err := enableControllers(cgroupDir)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			logger.Warn("cgroup controllers missing: the exec properties they enforce are refused", slog.Any("controllers", missing))
		}
		return nil
	}); err != nil {
		return err
	}
	var cfg BootConfig
	if err := step("cmdline", func() (err error) {
		cfg, err = readCmdline()
		return err
	}); err != nil {
		return err
	}
	opts.Level.Set(cfg.LogLevel)
	var disks Disks
	if err := step("probe", func() error {
		for _, dev := range []string{cfg.CASDevice, cfg.RuntimeDevice} {
			if err := waitForDevice(dev); err != nil {
				return err
			}
		}
		var err error
		disks, err = Probe("/dev", "/sys/block", Disks{CAS: cfg.CASDevice, Runtime: cfg.RuntimeDevice})
		return err
	}); err != nil {
		return err
	}
	logger.Info("disks", slog.String("cas", disks.CAS), slog.String("runtime", disks.Runtime))
	if err := step("cas", func() error {
		return mountCAS(ctx, logger, opts.Formatter, "/", disks.CAS, cfg.FormatCAS)
	}); err != nil {
		return err
	}
	mounted = append(mounted, CASDir)
	runtimeDir := ""
	if err := step("runtimes", func() error {
		if disks.Runtime == "" {
			logger.Warn("no runtime disk: actions asking for libc or requires-bash will be refused")
			return nil
		}
		if squash, err := isSquashFS(disks.Runtime); err != nil {
			return err
		} else if !squash {
			return fmt.Errorf("the runtime disk %s is not SquashFS", disks.Runtime)
		}
		if err := mountUnder("/", RuntimeMount(disks.Runtime)); err != nil {
			return err
		}
		mounted = append(mounted, RuntimeDir)
		runtimeDir = RuntimeDir
		return nil
	}); err != nil {
		return err
	}
	return step("daemon", func() error { return supervise(opts, runtimeDir) })
}

// mountCAS mounts the CAS disk on root/cas, formatting it first when it is
// empty and the host asked.
func mountCAS(ctx context.Context, logger *slog.Logger, f Formatter, root, dev string, format bool) error {
	fs, err := detectDevice(dev)
	if err != nil {
		return err
	}
	formatFirst, err := casPlan(dev, fs, format)
	if err != nil {
		return err
	}
	if formatFirst {
		logger.Info("formatting the empty CAS disk as ext4", slog.String("device", dev))
		start := time.Now()
		if err := f.Format(ctx, dev); err != nil {
			return err
		}
		logger.Info("formatted", slog.String("device", dev), slog.Duration("took", time.Since(start)))
	}
	return mountUnder(root, CASMount(dev))
}

// waitForDevice waits for a named device node to appear; devtmpfs creates
// it when the driver has probed the disk. An empty name is not waited for.
func waitForDevice(dev string) error {
	if dev == "" {
		return nil
	}
	deadline := time.Now().Add(deviceWait)
	for {
		_, err := os.Stat(dev)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return fmt.Errorf("device %s: %w", dev, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// supervise starts the daemon as a child and reaps every child until it
// exits. SIGTERM and SIGINT are passed on to it; it then stops gracefully.
// Whatever is left when it is gone is killed.
func supervise(opts Options, runtimeDir string) error {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT)
	defer signal.Stop(sigs)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	console := opts.Console.Fd()
	pid, err := syscall.ForkExec(self, []string{self, DaemonArg, runtimeDir}, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, console, console},
	})
	if err != nil {
		return fmt.Errorf("starting the daemon: %w", err)
	}
	var status *unix.WaitStatus
	for status == nil {
		switch sig := <-sigs; sig {
		case unix.SIGCHLD:
			status = reap(pid)
		default:
			opts.Logger.Info("stopping the daemon", slog.String("signal", sig.String()))
			_ = unix.Kill(pid, unix.SIGTERM)
		}
	}
	// Nothing else should be running; whatever is, must not keep the
	// disks busy. Only PID 1 may do that: anywhere else kill(-1) is every
	// process of the user.
	if os.Getpid() == 1 {
		_ = unix.Kill(-1, unix.SIGKILL)
	}
	for {
		if _, err := unix.Wait4(-1, nil, 0, nil); err != nil && err != unix.EINTR {
			break // ECHILD: no child left
		}
	}
	switch {
	case status.Exited() && status.ExitStatus() == 0:
		opts.Logger.Info("the daemon stopped")
		return nil
	case status.Signaled():
		return fmt.Errorf("the daemon was killed by %v", status.Signal())
	}
	// The daemon printed its own "actiond guest: <step>: <cause>" line.
	return fmt.Errorf("the daemon exited with status %d", status.ExitStatus())
}

// reap waits for every exited child without blocking and returns the
// status of pid if it was among them.
func reap(pid int) *unix.WaitStatus {
	var found *unix.WaitStatus
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || got <= 0 {
			return found
		}
		if got == pid {
			found = &ws
		}
	}
}

// poweroff syncs and powers the VM off; it returns only if that fails.
func poweroff(logger *slog.Logger) {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	logger.Error("power off failed", slog.Any("error", err))
	for {
		time.Sleep(time.Hour)
	}
}
