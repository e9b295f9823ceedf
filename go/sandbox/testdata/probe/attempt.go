package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// attempt runs one hostile action, named by args[0], and returns "ok" when
// it succeeded or the errno name when it failed. Attempts that would harm
// the host if they succeeded stop at the step that decides permission (an
// open for writing, not the write). Unknown attempts exit 2.
func attempt(args []string) string {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		fmt.Fprintf(os.Stderr, "attempt %s needs %d arguments\n", args[0], i)
		os.Exit(2)
		return ""
	}
	pid := func(i int) int {
		n, err := strconv.Atoi(arg(i))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return n
	}
	switch args[0] {
	case "ptrace-attach": // PID
		return ptraceThenDetach(unix.PTRACE_ATTACH, pid(1))
	case "ptrace-seize": // PID
		return ptraceThenDetach(unix.PTRACE_SEIZE, pid(1))
	case "kill0": // PID: whether the process can be signalled at all
		return errString(unix.Kill(pid(1), 0))
	case "mount": // FSTYPE TARGET
		err := unix.Mount("none", arg(2), arg(1), 0, "")
		if err == nil {
			_ = unix.Unmount(arg(2), unix.MNT_DETACH)
		}
		return errString(err)
	case "bind-root": // bind / onto TARGET
		return errString(unix.Mount("/", arg(1), "", unix.MS_BIND|unix.MS_REC, ""))
	case "unshare": // user|mnt|net|pid|...: unshare on a locked thread that then exits
		return onOwnThread(func() error { return unix.Unshare(cloneFlag(arg(1))) })
	case "clone": // FLAG...: start a child in new namespaces (a multithreaded process cannot unshare a user namespace)
		var flags uintptr
		for _, f := range args[1:] {
			flags |= uintptr(cloneFlag(f))
		}
		cmd := exec.Command("/proc/self/exe", "true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
		return errString(unwrapExec(cmd.Run()))
	case "setns": // NS: join /proc/1/ns/NS, the namespace of the sandbox's init
		fd, err := unix.Open("/proc/1/ns/"+arg(1), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open " + errString(err)
		}
		defer unix.Close(fd)
		return onOwnThread(func() error { return unix.Setns(fd, 0) })
	case "pivot_root": // NEW PUT_OLD
		return errString(unix.PivotRoot(arg(1), arg(2)))
	case "chroot": // DIR
		return errString(unix.Chroot(arg(1)))
	case "open-write": // PATH: open for writing only, never write
		fd, err := unix.Open(arg(1), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return errString(err)
	case "open-vports": // open every virtio-serial port for writing (VM mode's host channel); ENOENT when none is there
		ports, _ := filepath.Glob("/dev/vport*")
		named, _ := filepath.Glob("/dev/virtio-ports/*")
		result := "ENOENT"
		for _, p := range append(ports, named...) {
			fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
			if err == nil {
				unix.Close(fd)
				return "ok " + p
			}
			result = errString(err)
		}
		return result
	case "mknod-char": // PATH MAJOR MINOR
		err := unix.Mknod(arg(1), unix.S_IFCHR|0o666, int(unix.Mkdev(uint32(pid(2)), uint32(pid(3)))))
		if err == nil {
			_ = os.Remove(arg(1))
		}
		return errString(err)
	case "mknod-block": // PATH MAJOR MINOR
		err := unix.Mknod(arg(1), unix.S_IFBLK|0o666, int(unix.Mkdev(uint32(pid(2)), uint32(pid(3)))))
		if err == nil {
			_ = os.Remove(arg(1))
		}
		return errString(err)
	case "socket-raw":
		return socketResult(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	case "socket-raw6":
		return socketResult(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW)
	case "socket-packet":
		return socketResult(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	case "socket-vsock":
		return socketResult(unix.AF_VSOCK, unix.SOCK_STREAM, 0)
	case "setuid0":
		return onOwnThread(func() error { return unix.Setresuid(0, 0, 0) })
	case "link": // OLD NEW
		return errString(unix.Link(arg(1), arg(2)))
	}
	fmt.Fprintln(os.Stderr, "unknown attempt", args[0])
	os.Exit(2)
	return ""
}

func cloneFlag(name string) int {
	flags := map[string]int{
		"user": unix.CLONE_NEWUSER, "mnt": unix.CLONE_NEWNS, "net": unix.CLONE_NEWNET, "pid": unix.CLONE_NEWPID,
		"ipc": unix.CLONE_NEWIPC, "uts": unix.CLONE_NEWUTS, "cgroup": unix.CLONE_NEWCGROUP,
	}
	f, ok := flags[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown namespace", name)
		os.Exit(2)
	}
	return f
}

// ptraceThenDetach attaches with req (PTRACE_ATTACH or PTRACE_SEIZE) and
// detaches again if that worked. Tracing is per thread, so the thread stays
// locked.
func ptraceThenDetach(req, pid int) string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(pid), 0, 0, 0, 0)
	if errno != 0 {
		return errString(errno)
	}
	if req == unix.PTRACE_ATTACH {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WALL, nil)
	}
	_ = unix.PtraceDetach(pid)
	return "ok"
}

// onOwnThread runs f on a locked thread that is never reused (it exits with
// the goroutine), since f may change the thread's namespaces or ids.
func onOwnThread(f func() error) string {
	res := make(chan error)
	go func() {
		runtime.LockOSThread()
		res <- f()
	}()
	return errString(<-res)
}

func socketResult(domain, typ, proto int) string {
	fd, err := unix.Socket(domain, typ, proto)
	if err == nil {
		unix.Close(fd)
	}
	return errString(err)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// unwrapExec returns the errno inside an os/exec start error, so that a
// refused clone reads as its errno.
func unwrapExec(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
