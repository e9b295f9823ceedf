//go:build linux

package initproc

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/sandbox/seccomp"
)

// Paths of the skeleton inside the sandbox root.
var devNodes = []string{"null", "zero", "random", "urandom"}

var devLinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
}

var etcFiles = [][2]string{
	{"passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
	{"group", "root:x:0:\nnogroup:x:65534:\n"},
	{"hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"},
	{"nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"},
}

// sandboxHostname is the host name every action sees.
const sandboxHostname = "localhost"

// prepare does the part of the setup that is the same for every action,
// in order: makes the mount namespace private, brings lo up, names the
// host, mounts the skeleton root, drops the capabilities an exec could
// gain and installs no_new_privs and the seccomp filter. All of it only
// touches this init's own namespaces. Dropping privileges first is safe:
// the bounding set, no_new_privs and the seccomp filter limit what an exec
// can gain and a few syscalls the init never makes, while the mounts that
// follow use the effective set, which stays.
func prepare(root string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / rprivate: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(sandboxHostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	if err := skeleton(root); err != nil {
		return err
	}
	if err := dropCapabilities(); err != nil {
		return err
	}
	// no_new_privs and the filter (see package seccomp).
	return seccomp.Install()
}

// loopbackUp brings lo up in the new network namespace; the kernel then
// configures 127.0.0.1/8 and ::1 on it by itself.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: set flags: %w", err)
	}
	return nil
}

// skeleton mounts the tmpfs root and fills in /dev, /proc, /tmp and /etc.
// The /etc files are shadowed when the action mounts a runtime's /etc.
func skeleton(root string) error {
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs root: %w", err)
	}
	for _, d := range []struct {
		name string
		mode uint32
	}{{"dev", 0o755}, {"dev/shm", 0o1777}, {"proc", 0o555}, {"tmp", 0o1777}} {
		if err := unix.Mkdir(root+"/"+d.name, d.mode); err != nil {
			return fmt.Errorf("create /%s: %w", d.name, err)
		}
	}
	for _, name := range devNodes {
		target := root + "/dev/" + name
		if err := createFile(target, 0o666, ""); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+name, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", name, err)
		}
	}
	for _, l := range devLinks {
		if err := unix.Symlink(l[1], root+"/dev/"+l[0]); err != nil {
			return fmt.Errorf("create /dev/%s: %w", l[0], err)
		}
	}
	if err := unix.Mkdir(root+"/etc", 0o755); err != nil {
		return fmt.Errorf("create /etc: %w", err)
	}
	for _, f := range etcFiles {
		if err := createFile(root+"/etc/"+f[0], 0o644, f[1]); err != nil {
			return err
		}
	}
	if err := unix.Mount("proc", root+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	return readOnlyProc(root + "/proc")
}

// procReadOnly are the parts of /proc that change the whole machine rather
// than the action's namespaces. Most are writable by host uid 0 alone, with
// no capability check, and a rootless init started by a root daemon
// (Options.Rootless) maps the daemon's uid 0 to the action's 65534: the
// action is host uid 0 without capabilities and could, for example, set
// kernel.core_pattern. Container runtimes make the same paths read-only.
var procReadOnly = []string{"sys", "sysrq-trigger", "irq", "bus", "fs"}

// readOnlyProc binds each of procReadOnly that exists onto itself,
// read-only.
func readOnlyProc(proc string) error {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	for _, name := range procReadOnly {
		p := proc + "/" + name
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // not built into this kernel
			}
			return fmt.Errorf("bind /proc/%s: %w", name, err)
		}
		if err := unix.MountSetattr(unix.AT_FDCWD, p, unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("make /proc/%s read-only: %w", name, err)
		}
	}
	return nil
}

func createFile(path string, mode uint32, content string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer unix.Close(fd)
	if content != "" {
		if _, err := unix.Write(fd, []byte(content)); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// dropCapabilities empties the bounding, inheritable and ambient capability
// sets of this thread, so that no exec, not even of a uid-0 program in
// rootless mode, can gain capabilities. The effective set stays, for the
// mounts and so that the fork can still switch to the action's uid; that
// switch clears it.
func dropCapabilities() error {
	for c := 0; c <= 63; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) {
				break // past CAP_LAST_CAP
			}
			return fmt.Errorf("drop capability %d from bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("get capabilities: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear inheritable capabilities: %w", err)
	}
	return nil
}
