//go:build linux

package doctor

import (
	"context"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/vm"
	"github.com/actiond/actiond/go/vm/qemu"
)

// Run checks this host for serve and serve-vm. It starts processes in new
// namespaces, runs one action in a real sandbox and, when it has QEMU and a
// guest kernel, boots that kernel under KVM (up to qemu.ProbeTimeout).
func Run(ctx context.Context, opts Options) Report {
	root := os.Geteuid() == 0
	r := Report{Modes: []string{ModeServe, ModeServeVM}}
	add := func(c Check) { r.Checks = append(r.Checks, c) }

	priv := privileges(root)
	add(priv)
	for _, ns := range namespaceKinds {
		add(namespace(ns, root))
	}
	// The action runs first so that the overlay check sees overlayfs
	// listed once the action's mount has loaded its module.
	action, limits := sandboxAction(ctx, opts.Root)
	add(overlayfs())
	add(seccomp())
	add(action)
	add(limits)
	add(squashfs(root))
	add(loopDevices(root))
	add(freeDisk(opts.Root, r.Modes))

	qemuCheck, qemuBin := qemuPresent(opts.QEMU)
	add(qemuCheck)
	kernelCheck, kernel := guestKernel(ctx, opts)
	add(kernelCheck)
	add(kvm(ctx, qemuBin, kernel))
	return r
}

// privileges: serve makes its namespaces as root, or in a user namespace
// (rootless mode) when unprivileged ones are allowed.
func privileges(root bool) Check {
	c := Check{Name: "root or user namespaces", Impact: serveOnly(Blocks)}
	if root {
		c.Detail = "running as root: serve makes the namespaces itself"
		return c
	}
	var off []string
	if v, ok := readSysctl("kernel/unprivileged_userns_clone"); ok && v == "0" {
		off = append(off, "kernel.unprivileged_userns_clone=1")
	}
	if v, ok := readSysctl("user/max_user_namespaces"); ok && v == "0" {
		off = append(off, "user.max_user_namespaces=15000")
	}
	if v, ok := readSysctl("kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" {
		off = append(off, "kernel.apparmor_restrict_unprivileged_userns=0")
	}
	if err := tryClone(unix.CLONE_NEWUSER, false); err != nil || len(off) > 0 {
		c.State = Missing
		c.Detail = fmt.Sprintf("not root, and unprivileged user namespaces are not allowed (%v)", errOr(err, "disabled by sysctl"))
		c.Fix = "run as root, or allow unprivileged user namespaces (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone)"
		if len(off) > 0 {
			c.Fix = "run as root, or allow unprivileged user namespaces: sysctl -w " + strings.Join(off, " ")
		}
		return c
	}
	c.Detail = "not root: serve runs rootless, each action in a user namespace"
	return c
}

// readSysctl reads /proc/sys/name; ok is false when the kernel has no
// such setting.
func readSysctl(name string) (string, bool) {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// filesystems is the set of file systems /proc/filesystems lists.
func filesystems() map[string]bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return nil
	}
	fs := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			fs[f[len(f)-1]] = true
		}
	}
	return fs
}

func overlayfs() Check {
	c := Check{Name: "overlayfs", Impact: serveOnly(Blocks)}
	if filesystems()["overlay"] {
		c.Detail = "listed in /proc/filesystems: each action writes into an overlay on its inputs"
		return c
	}
	c.State, c.Detail = Missing, "overlay is not in /proc/filesystems"
	c.Fix = "modprobe overlay (a kernel built with CONFIG_OVERLAY_FS)"
	return c
}

func seccomp() Check {
	c := Check{Name: "seccomp", Impact: serveOnly(Blocks)}
	// PR_GET_SECCOMP fails with EINVAL on a kernel without seccomp.
	if err := unix.Prctl(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		c.State, c.Detail = Missing, fmt.Sprintf("prctl(PR_GET_SECCOMP): %v", err)
		c.Fix = "use a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER"
		return c
	}
	c.Detail = "the kernel supports seccomp (the sandbox filters each action's system calls)"
	return c
}

func squashfs(root bool) Check {
	c := Check{Name: "squashfs", Impact: rootOnly(root),
		Without: "serve cannot mount a runtime image as root (--runtime-image or the standalone binary's own); --runtime-dir still works"}
	if filesystems()["squashfs"] {
		c.Detail = "listed in /proc/filesystems: runtime images are mounted, not unpacked"
		return c
	}
	c.State, c.Detail = Missing, "squashfs is not in /proc/filesystems"
	c.Fix = "modprobe squashfs (a kernel built with CONFIG_SQUASHFS, with zstd)"
	if !root {
		c.Detail += " (not needed rootless: runtime images are unpacked)"
	}
	return c
}

func loopDevices(root bool) Check {
	c := Check{Name: "loop devices", Impact: rootOnly(root),
		Without: "serve cannot mount a runtime image as root (--runtime-image or the standalone binary's own); --runtime-dir still works"}
	var st unix.Stat_t
	err := unix.Stat("/dev/loop-control", &st)
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
		c.Detail = "/dev/loop-control is there"
		return c
	}
	c.State, c.Detail = Missing, fmt.Sprintf("/dev/loop-control: %v", errOr(err, "not a character device"))
	c.Fix = "modprobe loop (in a container: give it /dev/loop-control and the loop devices)"
	if !root {
		c.Detail += " (not needed rootless: runtime images are unpacked)"
	}
	return c
}

// rootOnly: runtime images are loop-mounted as root and unpacked rootless.
func rootOnly(root bool) map[string]Impact {
	if root {
		return serveOnly(Degrades)
	}
	return nil
}

func qemuPresent(binary string) (Check, string) {
	arch := vm.HostArch()
	if binary == "" {
		binary = qemu.DefaultBinary(arch)
	}
	c := Check{Name: "QEMU", Impact: vmOnly(Blocks)}
	path, err := lookPath(binary)
	if err != nil {
		pkg := "qemu-system-x86"
		if arch == vm.ARM64 {
			pkg = "qemu-system-arm"
		}
		c.State, c.Detail = Missing, fmt.Sprintf("%s: %v", binary, err)
		c.Fix = "apt-get install " + pkg + " (or pass --qemu BINARY)"
		return c, ""
	}
	c.Detail = path
	return c, path
}

// kvm agrees with serve-vm by asking the same probe (qemu.ProbeAccel):
// /dev/kvm must be there and boot the guest kernel to its end.
func kvm(ctx context.Context, qemuBin, kernel string) Check {
	c := Check{Name: "KVM boots a guest", Impact: vmOnly(Degrades),
		Without: "KVM does not boot guests here, so serve-vm runs its guest under TCG emulation (several times slower)"}
	switch {
	case qemuBin == "":
		c.State, c.Detail = Skipped, "no QEMU to try it with"
		return c
	case kernel == "":
		c.State, c.Detail = Skipped, "no guest kernel to try"
		return c
	}
	v := qemu.ProbeAccel(ctx, qemuBin, vm.HostArch(), kernel)
	if v.Accel == qemu.KVM {
		c.Detail = v.Reason
		return c
	}
	c.State, c.Detail = Missing, v.Reason+": serve-vm uses TCG"
	if _, err := os.Stat("/dev/kvm"); err != nil {
		c.Fix = "enable virtualisation in the firmware and modprobe kvm_intel or kvm_amd; give your user /dev/kvm (group kvm)"
	} else {
		c.Fix = "on a VM, enable nested virtualisation on its host; otherwise serve-vm keeps working under TCG"
	}
	return c
}
