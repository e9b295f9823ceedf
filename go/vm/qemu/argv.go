//go:build linux

// Package qemu runs the actiond guest under QEMU on Linux hosts:
// qemu-system-x86_64 (q35) or qemu-system-aarch64 (virt), with KVM when it
// really runs a guest and TCG otherwise, no network device, the CAS and
// runtime images as virtio-blk disks and the host-guest channel on a
// virtio-serial port.
package qemu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/actiond/actiond/go/vm"
)

// Accel is a QEMU accelerator.
type Accel string

// The accelerators serve-vm chooses between.
const (
	KVM Accel = "kvm"
	TCG Accel = "tcg"
)

// channelFD is the descriptor number the channel's listening socket has in
// QEMU: the first of exec.Cmd.ExtraFiles.
const channelFD = 3

// argvOptions is everything the QEMU command line depends on.
type argvOptions struct {
	Arch         vm.Arch
	Accel        Accel
	Kernel       string
	Initramfs    string
	Cmdline      string
	MemoryMiB    int
	CPUs         int
	CASImage     string
	RuntimeImage string // empty: none
}

// DefaultBinary is the QEMU system emulator for a guest architecture.
func DefaultBinary(a vm.Arch) string {
	if a == vm.ARM64 {
		return "qemu-system-aarch64"
	}
	return "qemu-system-x86_64"
}

// argv is QEMU's arguments (without the binary). Choices, and why:
//   - x86_64 uses q35: the kernel finds its devices on PCI through ACPI, as
//     on arm64, and microvm with ACPI hangs this kernel generation under
//     TCG;
//   - arm64 uses virt with GICv3 (GICv2 stops at 8 CPUs) and cortex-a72
//     under TCG, whose emulation is cheaper than max's (pointer
//     authentication);
//   - -nodefaults and -nic none: no device is added that we did not ask
//     for; in particular the guest has no network at all;
//   - -no-reboot: a guest reboot (panic=-1 turns panics into one) exits
//     QEMU, so a dead guest is noticed;
//   - the serial console is QEMU's stdout, the disks are PCI virtio-blk in
//     a fixed order with serial numbers the guest can check, and the
//     channel is a virtio-serial port whose chardev is the listening
//     socket inherited as fd 3.
func argv(o argvOptions) []string {
	a := baseArgs(o.Arch, o.Accel)
	a = append(a,
		"-m", strconv.Itoa(o.MemoryMiB),
		"-smp", strconv.Itoa(o.CPUs),
		"-kernel", o.Kernel,
		"-initrd", o.Initramfs,
		"-append", o.Cmdline,
		"-chardev", "stdio,id=console,signal=off",
		"-serial", "chardev:console",
		"-drive", "file="+driveFile(o.CASImage)+",format=raw,if=none,id=cas,cache=writeback,discard=unmap",
		"-device", "virtio-blk-pci,drive=cas,serial=actiond-cas",
	)
	if o.RuntimeImage != "" {
		a = append(a,
			"-drive", "file="+driveFile(o.RuntimeImage)+",format=raw,if=none,id=runtime,readonly=on",
			"-device", "virtio-blk-pci,drive=runtime,serial=actiond-runtime",
		)
	}
	a = append(a,
		"-device", "virtio-rng-pci",
		"-device", "virtio-serial-pci,id=vser0",
		"-chardev", fmt.Sprintf("socket,id=channel,fd=%d,server=on,wait=off", channelFD),
		"-device", "virtserialport,bus=vser0.0,chardev=channel,name="+vm.ChannelPortName,
	)
	return a
}

// driveFile escapes a path for a -drive option value, where a comma is
// written twice.
func driveFile(p string) string { return strings.ReplaceAll(p, ",", ",,") }

// baseArgs is the machine without devices: the part the KVM probe shares
// with the real VM.
func baseArgs(arch vm.Arch, accel Accel) []string {
	a := []string{"-nodefaults", "-nographic", "-no-user-config", "-no-reboot", "-nic", "none"}
	switch arch {
	case vm.ARM64:
		if accel == KVM {
			a = append(a, "-M", "virt,gic-version=host", "-cpu", "host")
		} else {
			a = append(a, "-M", "virt,gic-version=3", "-cpu", "cortex-a72")
		}
	default:
		a = append(a, "-M", "q35")
		if accel == KVM {
			a = append(a, "-cpu", "host")
		} else {
			a = append(a, "-cpu", "max")
		}
	}
	return append(a, "-accel", string(accel))
}
