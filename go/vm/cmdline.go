package vm

import (
	"fmt"
	"strings"
)

// Device names the guest sees for the disks, in the order every hypervisor
// here attaches them: the CAS image first, the runtime image second.
const (
	CASDevice     = "/dev/vda"
	RuntimeDevice = "/dev/vdb"
)

// ChannelPortName is the virtio-serial port name of the host-guest channel.
const ChannelPortName = "actiond"

// Cmdline is the kernel command line of the guest: the console, the
// actiond.* parameters the guest agent reads from /proc/cmdline, and
// nothing that depends on the host.
type Cmdline struct {
	// Console is the console device: ttyS0 (QEMU x86_64), ttyAMA0 (QEMU
	// arm64) or hvc0 (Virtualization framework).
	Console string
	// Channel is virtio-serial:NAME or vsock:PORT.
	Channel string
	// Runtime reports whether a runtime image is attached.
	Runtime bool
	// FormatCAS asks the guest to format the CAS disk; set it only for an
	// image that holds no data yet (CASImage.Fresh). The guest still
	// refuses to format a disk that holds a filesystem.
	FormatCAS bool
	// Jobs is how many actions the guest runs at once; 0 leaves it to the
	// guest (one per CPU).
	Jobs int
}

// SerialConsole is the console QEMU's first serial port appears as.
func SerialConsole(a Arch) string {
	if a == ARM64 {
		return "ttyAMA0"
	}
	return "ttyS0"
}

// VirtioSerialChannel is the Channel value for a virtio-serial port.
func VirtioSerialChannel(name string) string { return "virtio-serial:" + name }

// VsockChannel is the Channel value for a vsock port.
func VsockChannel(port uint32) string { return fmt.Sprintf("vsock:%d", port) }

// String renders the command line. panic=-1 turns a guest panic into a
// reboot, which the hypervisor is told to treat as an exit, so a dead guest
// is noticed at once; quiet keeps the kernel to warnings and worse, so that
// the console tail in error reports is the guest agent's.
func (c Cmdline) String() string {
	args := []string{
		"console=" + c.Console,
		"panic=-1",
		"quiet",
		"actiond.cas_device=" + CASDevice,
	}
	if c.Runtime {
		args = append(args, "actiond.runtime_device="+RuntimeDevice)
	}
	args = append(args, "actiond.channel="+c.Channel)
	if c.FormatCAS {
		args = append(args, "actiond.format_cas=1")
	}
	if c.Jobs > 0 {
		args = append(args, fmt.Sprintf("actiond.jobs=%d", c.Jobs))
	}
	return strings.Join(args, " ")
}
