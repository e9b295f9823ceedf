package payload

import "fmt"

// The payloads actiond's commands look for.
const (
	// Kernel is the guest kernel image (bzImage on x86_64, Image on arm64).
	Kernel = "kernel"
	// Initramfs is the guest initramfs (zstd-compressed cpio).
	Initramfs = "initramfs"
	// Runtimes is the runtime SquashFS image.
	Runtimes = "runtimes"
)

// MaxNameLen is the longest payload name: a Mach-O section name holds 16
// bytes, two of them the "__" prefix.
const MaxNameLen = 14

// ValidateName returns an error unless name is 1 to [MaxNameLen] bytes of
// lowercase ASCII letters, digits and underscores.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("payload name %q: must be 1 to %d bytes", name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return fmt.Errorf("payload name %q: only a-z, 0-9 and _ are allowed", name)
		}
	}
	return nil
}
