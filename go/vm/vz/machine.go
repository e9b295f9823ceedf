//go:build darwin

// Package vz runs the guest with Apple's Virtualization framework
// (github.com/Code-Hex/vz): the Linux boot loader with the arm64 kernel and
// initramfs, the CAS image and the runtime image as virtio-blk disks (in
// that order: /dev/vda, /dev/vdb), an entropy device, the console on a
// virtio serial port, the host-guest channel on a virtio socket device, and
// no network device. It is the only package that imports vz; everything
// else of serve-vm is in package vm and builds on every host.
//
// The binary that uses it must be signed with the
// com.apple.security.virtualization entitlement (see cmd/darwin_actiond).
package vz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/Code-Hex/vz/v3"

	"github.com/actiond/actiond/go/vm"
)

// ChannelPort is the vsock port the guest agent listens on.
const ChannelPort = 1024

// Machine is a vm.Machine on the Virtualization framework.
type Machine struct {
	cfg     vm.Config
	cmdline string

	vm      *vz.VirtualMachine
	console *os.File // the read end of the guest console
	exited  chan struct{}
	exitErr error
	once    sync.Once
}

var _ vm.Machine = (*Machine)(nil)

// New describes the machine; nothing starts before Start.
func New(cfg vm.Config, cmdline string) *Machine {
	return &Machine{cfg: cfg, cmdline: cmdline, exited: make(chan struct{})}
}

// Start configures and boots the VM. The framework runs it in this process:
// it ends when the process does, whatever kills it.
func (m *Machine) Start(ctx context.Context) error {
	config, err := m.configuration()
	if err != nil {
		return err
	}
	if ok, err := config.Validate(); !ok || err != nil {
		return fmt.Errorf("the Virtualization framework refused the VM configuration: %w", err)
	}
	v, err := vz.NewVirtualMachine(config)
	if err != nil {
		return fmt.Errorf("create the VM: %w", err)
	}
	m.vm = v
	go m.copyConsole()
	go m.watch()
	if err := v.Start(); err != nil {
		return fmt.Errorf("start the VM (is the binary signed with the com.apple.security.virtualization entitlement?): %w", err)
	}
	return nil
}

func (m *Machine) configuration() (*vz.VirtualMachineConfiguration, error) {
	boot, err := vz.NewLinuxBootLoader(m.cfg.Kernel, vz.WithCommandLine(m.cmdline), vz.WithInitrd(m.cfg.Initramfs))
	if err != nil {
		return nil, fmt.Errorf("--kernel %s, --initramfs %s: %w", m.cfg.Kernel, m.cfg.Initramfs, err)
	}
	config, err := vz.NewVirtualMachineConfiguration(boot, uint(m.cfg.CPUs), uint64(m.cfg.MemoryMiB)<<20)
	if err != nil {
		return nil, err
	}

	// The console: the guest writes, the host only reads.
	consoleR, consoleW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	attachment, err := vz.NewFileHandleSerialPortAttachment(devNull, consoleW)
	if err != nil {
		return nil, err
	}
	serial, err := vz.NewVirtioConsoleDeviceSerialPortConfiguration(attachment)
	if err != nil {
		return nil, err
	}
	config.SetSerialPortsVirtualMachineConfiguration([]*vz.VirtioConsoleDeviceSerialPortConfiguration{serial})
	m.console = consoleR

	var disks []vz.StorageDeviceConfiguration
	for _, d := range []struct {
		path     string
		readOnly bool
	}{{m.cfg.CASImage, false}, {m.cfg.RuntimeImage, true}} {
		if d.path == "" {
			continue
		}
		a, err := vz.NewDiskImageStorageDeviceAttachment(d.path, d.readOnly)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.path, err)
		}
		blk, err := vz.NewVirtioBlockDeviceConfiguration(a)
		if err != nil {
			return nil, err
		}
		disks = append(disks, blk)
	}
	config.SetStorageDevicesVirtualMachineConfiguration(disks)

	entropy, err := vz.NewVirtioEntropyDeviceConfiguration()
	if err != nil {
		return nil, err
	}
	config.SetEntropyDevicesVirtualMachineConfiguration([]*vz.VirtioEntropyDeviceConfiguration{entropy})

	socket, err := vz.NewVirtioSocketDeviceConfiguration()
	if err != nil {
		return nil, err
	}
	config.SetSocketDevicesVirtualMachineConfiguration([]vz.SocketDeviceConfiguration{socket})
	// No network device: actions get loopback only, and so does the guest.
	config.SetNetworkDevicesVirtualMachineConfiguration(nil)
	return config, nil
}

func (m *Machine) copyConsole() {
	if m.cfg.Console != nil {
		_, _ = io.Copy(m.cfg.Console, m.console)
	}
}

// watch records the VM's end: a stop (the guest powered off) or an error.
func (m *Machine) watch() {
	for state := range m.vm.StateChangedNotify() {
		switch state {
		case vz.VirtualMachineStateStopped:
			m.finish(nil)
			return
		case vz.VirtualMachineStateError:
			m.finish(errors.New("the Virtualization framework reports the VM in an error state"))
			return
		}
	}
}

func (m *Machine) finish(err error) {
	m.once.Do(func() {
		m.exitErr = err
		close(m.exited)
	})
}

// Channel connects to the guest agent's vsock port.
func (m *Machine) Channel(ctx context.Context) (io.ReadWriteCloser, error) {
	devices := m.vm.SocketDevices()
	if len(devices) == 0 {
		return nil, errors.New("the VM has no virtio socket device")
	}
	conn, err := devices[0].Connect(ChannelPort)
	if err != nil {
		return nil, fmt.Errorf("connect to the guest's vsock port %d: %w", ChannelPort, err)
	}
	return conn, nil
}

// Wait blocks until the VM stopped.
func (m *Machine) Wait(ctx context.Context) error {
	select {
	case <-m.exited:
		return m.exitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop waits for the guest to power off until ctx is done, then stops the
// VM by force.
func (m *Machine) Stop(ctx context.Context) error {
	select {
	case <-m.exited:
		return nil
	case <-ctx.Done():
	}
	if m.vm.CanStop() {
		if err := m.vm.Stop(); err != nil {
			return fmt.Errorf("force the VM down: %w", err)
		}
	}
	<-m.exited
	return errors.New("the guest did not power off in time: the VM was stopped by force")
}
