package doctor

import "context"

// Options say what to check against.
type Options struct {
	// Root is the directory serve and serve-vm would use (--root): the
	// free-disk check looks at its file system (or its nearest existing
	// parent's).
	Root string
	// Kernel is the guest kernel the KVM check boots; empty skips that
	// check ("no guest kernel to try").
	Kernel string
	// QEMU is the QEMU binary serve-vm would run (--qemu); empty means the
	// host architecture's default.
	QEMU string
	// KernelFor, when set and Kernel is empty, finds the guest kernel as
	// serve-vm would (the payload embedded in the binary); "" means none.
	KernelFor func(ctx context.Context) (string, error)
}
