// Command probe runs inside the sandbox in tests: it reports what the
// sandbox looks like from inside and misbehaves on request. It is built
// static (CGO_ENABLED=0) so it needs no libraries in the sandbox.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/sandbox/internal/probeinfo"
)

// startFDs are the descriptors open when the process started, listed before
// the Go runtime or this program opens any of its own.
var startFDs = openFDs()

func openFDs() []int {
	var fds []int
	for fd := 0; fd < 1024; fd++ {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); errno == 0 {
			fds = append(fds, fd)
		}
	}
	return fds
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe command [args]")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "true":
	case "exit":
		n, _ := strconv.Atoi(args[0])
		os.Exit(n)
	case "signal":
		n, _ := strconv.Atoi(args[0])
		syscall.Kill(os.Getpid(), syscall.Signal(n))
		time.Sleep(time.Hour)
	case "echo":
		fmt.Println(strings.Join(args, " "))
		fmt.Fprintln(os.Stderr, "to stderr")
	case "sleep": // sleep DURATION [marker]
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
	case "spawn": // spawn MARKER DURATION: leave a background process, say so, then sleep
		_, err := os.StartProcess("/proc/self/exe", []string{"probe", "sleep", "1h", args[0]},
			&os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("spawned")
		d, _ := time.ParseDuration(args[1])
		time.Sleep(d)
	case "forkbomb": // forkbomb MARKER
		forkbomb()
	case "spew":
		buf := make([]byte, 1<<20)
		for {
			if _, err := os.Stdout.Write(buf); err != nil {
				os.Exit(1)
			}
		}
	case "closestdio": // close stdout and stderr, write to them anyway, then exit 0
		syscall.Close(1)
		syscall.Close(2)
		fmt.Println("lost")
		fmt.Fprintln(os.Stderr, "lost")
	case "write": // write PATH: try to create a file
		err := os.WriteFile(args[0], []byte("x"), 0o644)
		fmt.Println(errString(err))
	case "ops": // ops write:PATH read:PATH ...: one result line per op
		for _, op := range args {
			kind, path, _ := strings.Cut(op, ":")
			switch kind {
			case "write":
				fmt.Printf("%s %s\n", op, errString(os.WriteFile(path, []byte("x"), 0o644)))
			case "read":
				b, err := os.ReadFile(path)
				if err != nil {
					fmt.Printf("%s %s\n", op, errString(err))
				} else {
					fmt.Printf("%s %q\n", op, b)
				}
			}
		}
	case "killinit": // try to kill the sandbox init, then exit 0 once it handled the signals
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGPIPE} {
			fmt.Println(sig, errString(syscall.Kill(1, sig)))
		}
		// A signal that would make the init exit does so from its handler,
		// so once none is pending the init either survived them all or is
		// already going (and takes this process with it).
		if err := waitNoSignalPending(1, 10*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "cat":
		b, err := os.ReadFile(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Stdout.Write(b)
	case "info":
		json.NewEncoder(os.Stdout).Encode(info())
	case "attempt": // attempt NAME [args]: a hostile action; prints ok or the errno
		fmt.Println(attempt(args))
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}

// waitNoSignalPending polls /proc/PID/status until the process has no
// signal pending (ShdPnd, the process-wide set that kill fills, is 0).
func waitNoSignalPending(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			return err
		}
		pending := ""
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "ShdPnd:"); ok {
				pending = strings.TrimSpace(v)
			}
		}
		if strings.Trim(pending, "0") == "" && pending != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("signals %s still pending at pid %d after %v", pending, pid, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// forkbomb grows a binary tree of raw forks, bounded at 2047 processes so a
// machine without a pids limit survives it, then every process pauses. Only
// raw system calls run in the children: a forked Go process has one thread.
func forkbomb() {
	failed := 0
	for depth := 0; depth < 10; depth++ {
		child := false
		for i := 0; i < 2; i++ {
			pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
			if errno != 0 {
				failed++
				continue
			}
			if pid == 0 {
				child = true
				break
			}
		}
		if !child {
			break
		}
	}
	if failed > 0 {
		syscall.RawSyscall(syscall.SYS_WRITE, 1, uintptr(unsafe.Pointer(&[]byte("fork failed\n")[0])), 12)
	}
	// ppoll with no descriptors and no timeout waits for a signal, as
	// pause does; arm64 has no pause system call.
	for {
		syscall.RawSyscall6(syscall.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return errnoName(errno)
	}
	return err.Error()
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EPERM:
		return "EPERM"
	case syscall.EROFS:
		return "EROFS"
	case syscall.EACCES:
		return "EACCES"
	case syscall.EAFNOSUPPORT:
		return "EAFNOSUPPORT"
	case syscall.EFAULT:
		return "EFAULT"
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.ENOSYS:
		return "ENOSYS"
	}
	if name := unix.ErrnoName(e); name != "" {
		return name
	}
	return fmt.Sprintf("errno %d", int(e))
}

func info() probeinfo.Report {
	var r probeinfo.Report
	r.Hostname, _ = os.Hostname()
	r.UID, r.GID, r.Pid = os.Getuid(), os.Getgid(), os.Getpid()
	r.Groups, _ = os.Getgroups()
	r.Cwd, _ = os.Getwd()
	r.Env = os.Environ()
	r.Status = map[string]string{}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok {
				r.Status[k] = strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/dev"); err == nil {
		for _, line := range strings.Split(string(b), "\n")[2:] {
			if name, _, ok := strings.Cut(line, ":"); ok {
				r.NetDevs = append(r.NetDevs, strings.TrimSpace(name))
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/route"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
			r.Routes = append(r.Routes, line)
		}
	}
	if b, err := os.ReadFile("/proc/net/ipv6_route"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				r.IPv6Devs = append(r.IPv6Devs, f[len(f)-1])
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		r.Mountinfo = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	r.Umask = syscall.Umask(0)
	syscall.Umask(r.Umask)
	for _, fd := range startFDs {
		target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		r.OpenFDs = append(r.OpenFDs, strconv.Itoa(fd)+" -> "+target)
	}
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				r.Pids = append(r.Pids, pid)
			}
		}
	}
	r.Ppid = os.Getppid()

	const afVsock = 40
	fd, err := syscall.Socket(afVsock, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.Close(fd)
	}
	r.Vsock = errString(err)

	// io_uring_setup(1, NULL): EFAULT without the filter, EPERM with it.
	const sysIOUringSetup = 425
	_, _, errno := syscall.Syscall(sysIOUringSetup, 1, 0, 0)
	r.IOUring = errString(errnoErr(errno))

	// bpf(BPF_MAP_CREATE, NULL, 0).
	_, _, errno = syscall.Syscall(sysBPF, 0, 0, 0)
	r.BPF = errString(errnoErr(errno))

	// Attaching an accept-all classic filter to a UDP socket works for
	// anyone unless the seccomp filter refuses it.
	r.AttachBPF = attachFilter()
	r.TCP = tcpLoopback()
	return r
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func attachFilter() string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return "socket: " + errString(err)
	}
	defer syscall.Close(fd)
	filter := []syscall.SockFilter{{Code: syscall.BPF_RET | syscall.BPF_K, K: 0xffff}}
	prog := syscall.SockFprog{Len: 1, Filter: &filter[0]}
	_, _, errno := syscall.Syscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, syscall.SO_ATTACH_FILTER,
		uintptr(unsafe.Pointer(&prog)), unsafe.Sizeof(prog), 0)
	return errString(errnoErr(errno))
}

func tcpLoopback() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "listen: " + err.Error()
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("pong"))
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	buf := make([]byte, 4)
	if _, err := c.Read(buf); err != nil {
		return "read: " + err.Error()
	}
	return string(buf)
}
