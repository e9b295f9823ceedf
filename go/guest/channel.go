package guest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ChannelKind says which transport carries the host-guest channel.
type ChannelKind string

const (
	// VirtioSerial is a virtio-serial port found by its name (QEMU's
	// virtserialport name=...).
	VirtioSerial ChannelKind = "virtio-serial"
	// Vsock is an AF_VSOCK port the guest listens on
	// (Virtualization.framework's socket device).
	Vsock ChannelKind = "vsock"
)

// Channel is the host-guest byte stream the daemon's session runs over.
type Channel struct {
	Kind ChannelKind
	// Name is the virtio-serial port name.
	Name string
	// Port is the vsock port.
	Port uint32
}

// String returns the command line form, virtio-serial:NAME or vsock:PORT.
func (c Channel) String() string {
	if c.Kind == Vsock {
		return string(Vsock) + ":" + strconv.FormatUint(uint64(c.Port), 10)
	}
	return string(c.Kind) + ":" + c.Name
}

// ParseChannel parses virtio-serial:NAME or vsock:PORT.
func ParseChannel(s string) (Channel, error) {
	kind, arg, ok := strings.Cut(s, ":")
	if !ok {
		return Channel{}, errors.New("want virtio-serial:NAME or vsock:PORT")
	}
	switch ChannelKind(kind) {
	case VirtioSerial:
		if arg == "" || strings.Trim(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
			return Channel{}, fmt.Errorf("virtio-serial port name %q: want letters, digits, '.', '_' or '-'", arg)
		}
		return Channel{Kind: VirtioSerial, Name: arg}, nil
	case Vsock:
		port, err := strconv.ParseUint(arg, 10, 32)
		// VMADDR_PORT_ANY (2^32-1) cannot be listened on as a fixed port.
		if err != nil || port == 0 || port == 1<<32-1 {
			return Channel{}, fmt.Errorf("vsock port %q: want a number from 1 to 4294967294", arg)
		}
		return Channel{Kind: Vsock, Port: uint32(port)}, nil
	}
	return Channel{}, fmt.Errorf("channel kind %q: want virtio-serial:NAME or vsock:PORT", kind)
}
