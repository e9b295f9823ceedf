//go:build linux

package seccomp

import "golang.org/x/sys/unix"

// The audit architecture of native syscalls, and whether x32 syscalls
// (native architecture, __X32_SYSCALL_BIT set) exist.
const (
	nativeArch = unix.AUDIT_ARCH_AARCH64
	hasX32     = false
)
