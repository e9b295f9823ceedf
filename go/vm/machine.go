package vm

import (
	"context"
	"io"
)

// Machine is one guest VM on a hypervisor. Serve drives it; the QEMU and
// Virtualization framework implementations live in subpackages, and tests
// use fakes.
type Machine interface {
	// Start boots the guest; ctx bounds the start only, not the VM's life.
	Start(ctx context.Context) error
	// Channel connects to the guest's end of the host-guest channel: the
	// returned stream carries the channel session. It may be called once
	// the machine started.
	Channel(ctx context.Context) (io.ReadWriteCloser, error)
	// Wait blocks until the VM exited and returns why (nil for a guest that
	// powered off or rebooted), or ctx's error.
	Wait(ctx context.Context) error
	// Stop ends the VM: it waits for the guest to power off until ctx is
	// done (the caller asks the guest to, by closing the channel), then
	// forces the hypervisor down. It returns an error when it had to force.
	Stop(ctx context.Context) error
}
