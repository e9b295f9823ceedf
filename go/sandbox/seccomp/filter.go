//go:build linux

// Package seccomp builds and installs the classic-BPF seccomp filter that every
// sandboxed action runs under.
//
// The filter is deliberately small: it allows everything except a few kernel
// interfaces that are large attack surfaces and that no build action needs
// (vsock sockets, io_uring, bpf and attaching socket filters). Those fail with
// EPERM so that programs probing for them fall back gracefully. A syscall made
// with a foreign ABI (32-bit int 0x80 on x86_64, x32) cannot be matched against
// the native numbers, so a foreign audit architecture kills the process and x32
// calls fail with EPERM.
package seccomp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offsets into struct seccomp_data (include/uapi/linux/seccomp.h); the
// arguments are 64 bits wide and the filter compares their low 32 bits, which
// sit first on the little-endian architectures we support.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16
	offArg1 = 24
	offArg2 = 32
)

const (
	afVsock    = 40 // AF_VSOCK
	solSocket  = 1  // SOL_SOCKET
	retAllow   = unix.SECCOMP_RET_ALLOW
	retKill    = unix.SECCOMP_RET_KILL_PROCESS
	retEPERM   = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	x32Bit     = 0x40000000 // __X32_SYSCALL_BIT
	bpfLdW     = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeqK    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJsetK   = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfRetK    = unix.BPF_RET | unix.BPF_K
	maxJumpLen = 255
)

// Syscall numbers come from x/sys/unix for the architecture being built;
// the arch_*.go files hold what differs beyond them.
const (
	sysSocket     = unix.SYS_SOCKET
	sysSetsockopt = unix.SYS_SETSOCKOPT
)

// deniedSyscalls fail with EPERM whatever their arguments.
var deniedSyscalls = []uint32{
	unix.SYS_BPF,
	unix.SYS_IO_URING_SETUP,
	unix.SYS_IO_URING_ENTER,
	unix.SYS_IO_URING_REGISTER,
}

// attachOptions are the SOL_SOCKET options that attach a (c)BPF program to a
// socket.
var attachOptions = []uint32{
	unix.SO_ATTACH_FILTER,
	unix.SO_ATTACH_BPF,
	unix.SO_ATTACH_REUSEPORT_CBPF,
	unix.SO_ATTACH_REUSEPORT_EBPF,
}

// Program returns the filter for the running architecture.
func Program() []unix.SockFilter {
	var p program
	p.load(offArch)
	// Foreign architecture: kill. The jump targets are patched by label.
	p.jeq(nativeArch, "nr", "kill")
	p.label("nr")
	p.load(offNr)
	if hasX32 {
		p.jset(x32Bit, "eperm", "")
	}
	p.jeq(sysSocket, "socket", "")
	p.jeq(sysSetsockopt, "setsockopt", "")
	for _, nr := range deniedSyscalls {
		p.jeq(nr, "eperm", "")
	}
	p.ret(retAllow)

	p.label("socket")
	p.load(offArg0)
	p.jeq(afVsock, "eperm", "")
	p.ret(retAllow)

	p.label("setsockopt")
	p.load(offArg1)
	p.jeq(solSocket, "", "allow")
	p.load(offArg2)
	for _, opt := range attachOptions {
		p.jeq(opt, "eperm", "")
	}
	p.label("allow")
	p.ret(retAllow)

	p.label("eperm")
	p.ret(retEPERM)
	p.label("kill")
	p.ret(retKill)
	return p.resolve()
}

// Install sets no_new_privs (required to install a filter without
// CAP_SYS_ADMIN, and wanted anyway) and installs Program on every thread of
// the calling process. TSYNC matters for Go: the runtime has several threads
// and the one that later forks the action must carry the filter.
func Install() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	filter := Program()
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return fmt.Errorf("install seccomp filter: %w", errno)
	}
	return nil
}

// program is a tiny assembler with forward jumps to named labels.
type program struct {
	insns  []unix.SockFilter
	labels map[string]int
	fixups []fixup
}

type fixup struct {
	at     int
	jt, jf string
}

func (p *program) load(off uint32) {
	p.insns = append(p.insns, unix.SockFilter{Code: bpfLdW, K: off})
}

func (p *program) ret(v uint32) {
	p.insns = append(p.insns, unix.SockFilter{Code: bpfRetK, K: v})
}

// jeq jumps to jt if A == k, else to jf; an empty label means the next
// instruction.
func (p *program) jeq(k uint32, jt, jf string) { p.jump(bpfJeqK, k, jt, jf) }

// jset jumps to jt if A & k != 0, else to jf.
func (p *program) jset(k uint32, jt, jf string) { p.jump(bpfJsetK, k, jt, jf) }

func (p *program) jump(code uint16, k uint32, jt, jf string) {
	p.fixups = append(p.fixups, fixup{at: len(p.insns), jt: jt, jf: jf})
	p.insns = append(p.insns, unix.SockFilter{Code: code, K: k})
}

func (p *program) label(name string) {
	if p.labels == nil {
		p.labels = map[string]int{}
	}
	p.labels[name] = len(p.insns)
}

func (p *program) resolve() []unix.SockFilter {
	offset := func(from int, name string) uint8 {
		if name == "" {
			return 0
		}
		to, ok := p.labels[name]
		if !ok || to <= from || to-from-1 > maxJumpLen {
			panic(fmt.Sprintf("seccomp: bad jump from %d to label %q", from, name))
		}
		return uint8(to - from - 1)
	}
	for _, f := range p.fixups {
		p.insns[f.at].Jt = offset(f.at, f.jt)
		p.insns[f.at].Jf = offset(f.at, f.jf)
	}
	return p.insns
}
