//go:build linux

package seccomp_test

import (
	"encoding/binary"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/sandbox/seccomp"
)

// run interprets the subset of classic BPF that Program emits over a
// seccomp_data built from the arguments, so the filter's decisions can be
// checked without installing it.
func run(t *testing.T, prog []unix.SockFilter, arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if acc == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			if acc&in.K != 0 {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("unexpected instruction %#v at %d", in, pc)
		}
	}
	t.Fatal("program fell off the end")
	return 0
}

func TestProgram(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("syscall numbers in this table are for amd64")
	}
	const (
		allow = unix.SECCOMP_RET_ALLOW
		eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		kill  = unix.SECCOMP_RET_KILL_PROCESS
		arch  = unix.AUDIT_ARCH_X86_64
	)
	for _, tc := range []struct {
		name string
		arch uint32
		nr   uint32
		args []uint64
		want uint32
	}{
		{"read", arch, unix.SYS_READ, nil, allow},
		{"socket inet", arch, unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM}, allow},
		{"socket unix", arch, unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM}, allow},
		{"socket vsock", arch, unix.SYS_SOCKET, []uint64{unix.AF_VSOCK, unix.SOCK_STREAM}, eperm},
		{"io_uring_setup", arch, unix.SYS_IO_URING_SETUP, nil, eperm},
		{"io_uring_enter", arch, unix.SYS_IO_URING_ENTER, nil, eperm},
		{"io_uring_register", arch, unix.SYS_IO_URING_REGISTER, nil, eperm},
		{"bpf", arch, unix.SYS_BPF, nil, eperm},
		{"setsockopt reuseaddr", arch, unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_SOCKET, unix.SO_REUSEADDR}, allow},
		{"setsockopt tcp level same number", arch, unix.SYS_SETSOCKOPT, []uint64{3, unix.IPPROTO_TCP, unix.SO_ATTACH_FILTER}, allow},
		{"setsockopt attach filter", arch, unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER}, eperm},
		{"setsockopt attach bpf", arch, unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_SOCKET, unix.SO_ATTACH_BPF}, eperm},
		{"setsockopt reuseport cbpf", arch, unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF}, eperm},
		{"setsockopt reuseport ebpf", arch, unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_EBPF}, eperm},
		{"x32 read", arch, 0x40000000 | unix.SYS_READ, nil, eperm},
		{"i386 abi", unix.AUDIT_ARCH_I386, 3, nil, kill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(t, seccomp.Program(), tc.arch, tc.nr, tc.args...); got != tc.want {
				t.Errorf("filter returned %#x, want %#x", got, tc.want)
			}
		})
	}
}
