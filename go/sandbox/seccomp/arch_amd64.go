//go:build linux

package seccomp

import "golang.org/x/sys/unix"

const (
	nativeArch    = unix.AUDIT_ARCH_X86_64
	hasX32        = true
	sysSocket     = unix.SYS_SOCKET
	sysSetsockopt = unix.SYS_SETSOCKOPT
)

var deniedSyscalls = []uint32{
	unix.SYS_BPF,
	unix.SYS_IO_URING_SETUP,
	unix.SYS_IO_URING_ENTER,
	unix.SYS_IO_URING_REGISTER,
}
