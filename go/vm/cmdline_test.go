package vm_test

import (
	"testing"

	"github.com/actiond/actiond/go/vm"
)

func TestCmdline(t *testing.T) {
	tests := []struct {
		name string
		c    vm.Cmdline
		want string
	}{
		{
			"qemu x86_64 first boot",
			vm.Cmdline{Console: vm.SerialConsole(vm.X86_64), Channel: vm.VirtioSerialChannel("actiond"), Runtime: true, FormatCAS: true},
			"console=ttyS0 panic=-1 quiet actiond.cas_device=/dev/vda actiond.runtime_device=/dev/vdb actiond.channel=virtio-serial:actiond actiond.format_cas=1",
		},
		{
			"qemu arm64 later boot",
			vm.Cmdline{Console: vm.SerialConsole(vm.ARM64), Channel: vm.VirtioSerialChannel("actiond"), Runtime: true, Jobs: 8},
			"console=ttyAMA0 panic=-1 quiet actiond.cas_device=/dev/vda actiond.runtime_device=/dev/vdb actiond.channel=virtio-serial:actiond actiond.jobs=8",
		},
		{
			"vz without a runtime image",
			vm.Cmdline{Console: "hvc0", Channel: vm.VsockChannel(1024)},
			"console=hvc0 panic=-1 quiet actiond.cas_device=/dev/vda actiond.channel=vsock:1024",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.String(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
