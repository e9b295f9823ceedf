//go:build linux

package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one mount(2) call of the boot.
type Mount struct {
	Source string
	Target string
	FSType string
	Flags  uintptr
	Data   string
}

// Where the guest mounts its disks; the daemon's root is under CASDir.
const (
	CASDir     = "/cas"
	RuntimeDir = "/runtimes"
	cgroupDir  = "/sys/fs/cgroup"
)

const hardened = unix.MS_NOSUID | unix.MS_NODEV

// EarlyMounts are the kernel file systems and scratch areas, in order (a
// later target may sit in an earlier one: cgroup2 in sysfs). Nothing here
// needs the network: actions get their own network namespace with its own
// loopback, and the daemon serves on the channel, so lo stays down.
func EarlyMounts() []Mount {
	return []Mount{
		{Source: "proc", Target: "/proc", FSType: "proc", Flags: hardened | unix.MS_NOEXEC},
		{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: hardened | unix.MS_NOEXEC},
		{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"},
		{Source: "cgroup2", Target: cgroupDir, FSType: "cgroup2", Flags: hardened | unix.MS_NOEXEC},
		{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: hardened, Data: "mode=1777"},
		{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: hardened, Data: "mode=0755"},
	}
}

// CASMount mounts the CAS disk read-write; noatime because the CAS tracks
// use itself and an atime write per read would double the disk traffic.
func CASMount(dev string) Mount {
	return Mount{Source: dev, Target: CASDir, FSType: "ext4", Flags: hardened | unix.MS_NOATIME, Data: "errors=remount-ro"}
}

// RuntimeMount mounts the runtime SquashFS read-only.
func RuntimeMount(dev string) Mount {
	return Mount{Source: dev, Target: RuntimeDir, FSType: "squashfs", Flags: hardened | unix.MS_RDONLY}
}

// mountUnder performs m with its target below root ("/" in the guest; a
// temporary directory in tests), creating the target directory first.
func mountUnder(root string, m Mount) error {
	target := filepath.Join(root, m.Target)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", target, err)
	}
	if err := unix.Mount(m.Source, target, m.FSType, m.Flags, m.Data); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", m.Source, m.FSType, target, err)
	}
	return nil
}

// cgroupControllers are the controllers the sandbox enforces exec
// properties with; it makes per-action groups under <cgroup2>/actiond.
var cgroupControllers = []string{"cpu", "memory", "pids"}

// enableControllers enables the controllers for the children of the root
// cgroup at dir. The root group may hold processes (init, the daemon) and
// still delegate controllers: the no-internal-processes rule exempts it.
// It returns the controllers that could not be enabled.
func enableControllers(dir string) (missing []string, err error) {
	file := filepath.Join(dir, "cgroup.subtree_control")
	// One write per controller, so a kernel without one still gets the
	// others.
	for _, c := range cgroupControllers {
		_ = os.WriteFile(file, []byte("+"+c), 0)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	enabled := strings.Fields(string(b))
	for _, c := range cgroupControllers {
		found := false
		for _, e := range enabled {
			found = found || e == c
		}
		if !found {
			missing = append(missing, c)
		}
	}
	return missing, nil
}

// unmountAll unmounts the targets in reverse order, ignoring those not
// mounted.
func unmountAll(targets []string) error {
	var errs []error
	for i := len(targets) - 1; i >= 0; i-- {
		if err := unix.Unmount(targets[i], 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", targets[i], err))
		}
	}
	return errors.Join(errs...)
}
