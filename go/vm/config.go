// Package vm describes the Linux VM that serve-vm runs actiond in, and
// drives its life on the host: validation of the boot files, the kernel
// command line, the CAS disk image, readiness through the host-guest
// channel and the serving loop. The hypervisors (QEMU, Virtualization
// framework) live in subpackages behind the Machine interface; this
// package builds for every host and knows nothing of the executor.
package vm

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// MinMemoryMiB is the least guest memory that boots the kernel, unpacks the
// initramfs and leaves room for the daemon and an action.
const MinMemoryMiB = 256

// MinCASImageMiB is the smallest CAS image the guest can format as ext4
// with room for blobs.
const MinCASImageMiB = 64

// Config is what a hypervisor needs to boot the guest.
type Config struct {
	// Kernel is the guest kernel: an x86_64 bzImage or an arm64 Image.
	Kernel string
	// Initramfs is the guest's initramfs (newc cpio, zstd or gzip
	// compressed or not) with the guest agent as /init.
	Initramfs string
	// CASImage is the raw disk image holding the guest's CAS; see
	// OpenCASImage.
	CASImage string
	// CASImageSizeMiB is the size a missing CAS image is created with.
	CASImageSizeMiB int64
	// RuntimeImage is the runtime SquashFS image attached read-only; empty
	// attaches none.
	RuntimeImage string
	// MemoryMiB and CPUs size the guest.
	MemoryMiB int
	CPUs      int
	// Jobs is how many actions the guest runs at once; 0 means as many as
	// it has CPUs.
	Jobs int
	// Arch is the guest architecture; Kernel must be built for it.
	Arch Arch
	// StartTimeout bounds boot to readiness.
	StartTimeout time.Duration
	// Console receives the guest's console output.
	Console io.Writer
}

// Validate checks the sizes and the boot files' formats, so that a wrong
// file fails here with the fix instead of as a silent guest hang. Each
// error is one line naming the flag to change.
func (c *Config) Validate() error {
	switch c.Arch {
	case X86_64, ARM64:
	default:
		return fmt.Errorf("--arch %q: want x86_64 or arm64", c.Arch)
	}
	if c.MemoryMiB < MinMemoryMiB {
		return fmt.Errorf("--memory-mib %d is too little for the guest: give at least %d", c.MemoryMiB, MinMemoryMiB)
	}
	if c.CPUs < 1 {
		return fmt.Errorf("--cpus must be at least 1, got %d", c.CPUs)
	}
	if c.Jobs < 0 {
		return fmt.Errorf("--jobs must be 0 (one per guest CPU) or more, got %d", c.Jobs)
	}
	if c.CASImageSizeMiB < MinCASImageMiB {
		return fmt.Errorf("--cas-image-size-mib %d is too small: give at least %d", c.CASImageSizeMiB, MinCASImageMiB)
	}
	if c.StartTimeout <= 0 {
		return errors.New("--start-timeout-ms must be positive")
	}
	if c.CASImage == "" {
		return errors.New("--cas-image is required: give the path of the guest's CAS disk image")
	}
	if err := CheckKernel(c.Kernel, c.Arch); err != nil {
		return err
	}
	if err := CheckInitramfs(c.Initramfs, c.Arch); err != nil {
		return err
	}
	if c.RuntimeImage != "" {
		if err := CheckRuntimeImage(c.RuntimeImage); err != nil {
			return err
		}
	}
	return nil
}
