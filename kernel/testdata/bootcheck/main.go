//go:build linux

// Command bootcheck is the /init of the kernel boot test's initramfs: it checks
// at run time the kernel features the actiond guest needs, prints one line
// "bootcheck: OK ..." or "bootcheck: FAIL ..." on the console and powers the
// machine off.
//
// Kernel command line parameters it reads:
//
//	bootcheck.port=NAME  a virtio-serial port NAME must exist; "bootcheck: port" is written to it
//	bootcheck.disk=vda   the virtio-blk disk must exist
//	bootcheck.rng=1      the virtio entropy device must be the current hwrng
//
// Run with the argument "child", it is the process checked inside new
// namespaces.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		if err := child(); err != nil {
			fmt.Fprintf(os.Stderr, "child: %v\n", err)
			os.Exit(1)
		}
		return
	}
	var failures []string
	for _, c := range checks {
		if err := c.run(); err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", c.name, err))
		}
	}
	uptime, _ := os.ReadFile("/proc/uptime")
	up, _, _ := strings.Cut(string(uptime), " ")
	if len(failures) > 0 {
		fmt.Printf("bootcheck: FAIL uptime=%ss %s\n", up, strings.Join(failures, "; "))
	} else {
		fmt.Printf("bootcheck: OK uptime=%ss checks=%d\n", up, len(checks))
	}
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Printf("bootcheck: power off: %v\n", err)
	}
	select {}
}

type check struct {
	name string
	run  func() error
}

var checks = []check{
	{"mounts", mounts},
	{"filesystems", filesystems},
	{"cgroup2", cgroups},
	{"namespaces", namespaces},
	{"overlay on tmpfs", overlay},
	{"loopback", loopback},
	{"seccomp", seccomp},
	{"vsock", vsock},
	{"rtc", rtc},
	{"virtio-serial port", port},
	{"virtio-blk", disk},
	{"virtio-rng", rng},
}

func mounts() error {
	for _, m := range []struct{ fstype, target string }{
		{"proc", "/proc"},
		{"sysfs", "/sys"},
		{"devtmpfs", "/dev"},
		{"cgroup2", "/sys/fs/cgroup"},
		{"tmpfs", "/tmp"},
	} {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

func filesystems() error {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			have[f[len(f)-1]] = true
		}
	}
	var missing []string
	for _, fs := range []string{"ext4", "ext2", "squashfs", "overlay", "tmpfs", "devtmpfs", "cgroup2", "proc", "sysfs"} {
		if !have[fs] {
			missing = append(missing, fs)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %v", missing)
	}
	return nil
}

func cgroups() error {
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		return err
	}
	have := strings.Fields(string(b))
	for _, c := range []string{"memory", "cpu", "pids"} {
		if !contains(have, c) {
			return fmt.Errorf("controller %s missing from %q", c, strings.TrimSpace(string(b)))
		}
	}
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+memory +cpu +pids"), 0); err != nil {
		return fmt.Errorf("enable controllers: %w", err)
	}
	dir := "/sys/fs/cgroup/bootcheck"
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for file, value := range map[string]string{"memory.max": "67108864", "pids.max": "64", "cpu.max": "50000 100000"} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
			return err
		}
	}
	return nil
}

// namespaces runs the child in new user, pid, net, mount, uts and ipc
// namespaces, as root in them mapped to an unprivileged user outside.
func namespaces() error {
	cmd := exec.Command("/init", "child")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}},
		// Become the mapped root: without it the child keeps its kuid 0,
		// which is unmapped in the namespace, and has no capabilities there.
		Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("child in new namespaces: %w", err)
	}
	return nil
}

func child() error {
	if pid := os.Getpid(); pid != 1 {
		return fmt.Errorf("pid %d in a new pid namespace, want 1", pid)
	}
	if err := unix.Sethostname([]byte("bootcheck")); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", 0, ""); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	return loopback()
}

// overlay mounts an overlay whose upper directory is on tmpfs and deletes a
// lower file through it: the whiteout needs tmpfs xattrs.
func overlay() error {
	root := "/tmp/overlay"
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "lower", "f"), []byte("x"), 0o644); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(root, "lower", "d"), 0o755); err != nil {
		return err
	}
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", root, root, root)
	if err := unix.Mount("overlay", filepath.Join(root, "merged"), "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	defer unix.Unmount(filepath.Join(root, "merged"), 0)
	if err := os.Remove(filepath.Join(root, "merged", "f")); err != nil {
		return err
	}
	// Recreating a deleted lower directory needs an opaque marker (xattr).
	if err := os.Remove(filepath.Join(root, "merged", "d")); err != nil {
		return err
	}
	return os.Mkdir(filepath.Join(root, "merged", "d"), 0o755)
}

// loopback brings lo up and connects to itself over IPv4 and IPv6.
func loopback() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		if err := echo(addr); err != nil {
			return err
		}
	}
	return nil
}

func echo(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("ping"))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	b := make([]byte, 4)
	if _, err := c.Read(b); err != nil || string(b) != "ping" {
		return fmt.Errorf("read from %s: %q, %v", l.Addr(), b, err)
	}
	return nil
}

func seccomp() error {
	b, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail")
	if err != nil {
		return fmt.Errorf("no seccomp filter support: %w", err)
	}
	if !bytes.Contains(b, []byte("errno")) {
		return fmt.Errorf("actions_avail %q", b)
	}
	return nil
}

func vsock() error {
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket(AF_VSOCK): %w", err)
	}
	return unix.Close(fd)
}

func rtc() error {
	_, err := os.Stat("/sys/class/rtc/rtc0")
	return err
}

func port() error {
	want := cmdline("bootcheck.port")
	if want == "" {
		return nil
	}
	names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
	var seen []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return err
		}
		name := strings.TrimSpace(string(b))
		seen = append(seen, name)
		if name != want {
			continue
		}
		dev := "/dev/" + filepath.Base(filepath.Dir(n))
		f, err := os.OpenFile(dev, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := f.Write([]byte("bootcheck: port " + want + "\n")); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", dev, err)
		}
		return f.Close()
	}
	return fmt.Errorf("no port named %q in /sys/class/virtio-ports (saw %v)", want, seen)
}

func disk() error {
	name := cmdline("bootcheck.disk")
	if name == "" {
		return nil
	}
	_, err := os.Stat("/sys/block/" + name)
	return err
}

func rng() error {
	if cmdline("bootcheck.rng") == "" {
		return nil
	}
	b, err := os.ReadFile("/sys/class/misc/hw_random/rng_current")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(b), "virtio_rng") {
		return fmt.Errorf("current hwrng %q", strings.TrimSpace(string(b)))
	}
	return nil
}

func cmdline(key string) string {
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
