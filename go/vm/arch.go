package vm

import (
	"fmt"
	"runtime"
)

// Arch is a guest CPU architecture, spelled as the kernel and Bazel
// platforms spell it.
type Arch string

// The architectures a guest can have.
const (
	X86_64 Arch = "x86_64"
	ARM64  Arch = "arm64"
)

// HostArch is the architecture of the running process, or "" when it is
// neither of the guest architectures.
func HostArch() Arch {
	switch runtime.GOARCH {
	case "amd64":
		return X86_64
	case "arm64":
		return ARM64
	}
	return ""
}

// ParseArch accepts x86_64 and arm64 and their Go and Debian synonyms.
func ParseArch(s string) (Arch, error) {
	switch s {
	case "x86_64", "amd64":
		return X86_64, nil
	case "arm64", "aarch64":
		return ARM64, nil
	}
	return "", fmt.Errorf("architecture %q: want x86_64 or arm64", s)
}
