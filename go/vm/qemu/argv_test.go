//go:build linux

package qemu

import (
	"slices"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/vm"
)

// noNetwork fails when argv could give the guest a network device: one
// must be asked for explicitly, and -nodefaults keeps QEMU from adding
// one.
func noNetwork(t *testing.T, a []string) {
	t.Helper()
	if !slices.Contains(a, "-nodefaults") {
		t.Errorf("no -nodefaults: QEMU would add a default NIC")
	}
	for i, arg := range a {
		next := ""
		if i+1 < len(a) {
			next = a[i+1]
		}
		switch {
		case arg == "-netdev" || arg == "-net" || strings.HasPrefix(arg, "-netdev=") || strings.HasPrefix(arg, "-net="):
			t.Errorf("network option %s %s", arg, next)
		case arg == "-nic" && next != "none":
			t.Errorf("-nic %s, want only -nic none", next)
		case arg == "-device" && (strings.Contains(next, "net") || strings.Contains(next, "e1000") || strings.Contains(next, "rtl8139")):
			t.Errorf("network device %s", next)
		}
	}
}

// valueOf returns the argument after the first flag.
func valueOf(a []string, flag string) string {
	if i := slices.Index(a, flag); i >= 0 && i+1 < len(a) {
		return a[i+1]
	}
	return ""
}

func TestArgv(t *testing.T) {
	first := vm.Cmdline{Console: "ttyS0", Channel: vm.VirtioSerialChannel(vm.ChannelPortName), Runtime: true, FormatCAS: true}
	later := first
	later.FormatCAS = false
	tests := []struct {
		name      string
		o         argvOptions
		want      map[string]string // flag: first value
		wantDev   []string          // -device values, in order
		wantDrive []string          // substrings of the -drive values, in order
	}{
		{
			name: "x86_64 tcg first boot",
			o: argvOptions{Arch: vm.X86_64, Accel: TCG, Kernel: "/k/bzImage", Initramfs: "/k/initramfs.zst", Cmdline: first.String(),
				MemoryMiB: 2048, CPUs: 2, CASImage: "/r/vm/cas.img", RuntimeImage: "/r/runtimes.squashfs"},
			want: map[string]string{"-M": "q35", "-cpu": "max", "-accel": "tcg", "-m": "2048", "-smp": "2", "-kernel": "/k/bzImage",
				"-initrd": "/k/initramfs.zst", "-append": first.String(), "-serial": "chardev:console", "-nic": "none"},
			wantDev:   []string{"virtio-blk-pci,drive=cas,serial=actiond-cas", "virtio-blk-pci,drive=runtime,serial=actiond-runtime", "virtio-rng-pci", "virtio-serial-pci,id=vser0", "virtserialport,bus=vser0.0,chardev=channel,name=actiond"},
			wantDrive: []string{"file=/r/vm/cas.img,format=raw,if=none,id=cas,", "file=/r/runtimes.squashfs,format=raw,if=none,id=runtime,readonly=on"},
		},
		{
			name: "x86_64 kvm later boot",
			o: argvOptions{Arch: vm.X86_64, Accel: KVM, Kernel: "/k/bzImage", Initramfs: "/k/i", Cmdline: later.String(),
				MemoryMiB: 512, CPUs: 1, CASImage: "/r/a,b.img", RuntimeImage: "/r/rt"},
			want:      map[string]string{"-M": "q35", "-cpu": "host", "-accel": "kvm", "-append": later.String()},
			wantDrive: []string{"file=/r/a,,b.img,", "readonly=on"},
		},
		{
			name: "arm64 tcg without runtime image",
			o: argvOptions{Arch: vm.ARM64, Accel: TCG, Kernel: "/k/Image", Initramfs: "/k/i", Cmdline: "console=ttyAMA0",
				MemoryMiB: 1024, CPUs: 16, CASImage: "/r/cas.img"},
			want:      map[string]string{"-M": "virt,gic-version=3", "-cpu": "cortex-a72", "-accel": "tcg", "-smp": "16", "-kernel": "/k/Image"},
			wantDev:   []string{"virtio-blk-pci,drive=cas,serial=actiond-cas", "virtio-rng-pci", "virtio-serial-pci,id=vser0", "virtserialport,bus=vser0.0,chardev=channel,name=actiond"},
			wantDrive: []string{"id=cas"},
		},
		{
			name: "arm64 kvm",
			o:    argvOptions{Arch: vm.ARM64, Accel: KVM, Kernel: "/k/Image", Initramfs: "/k/i", MemoryMiB: 1024, CPUs: 4, CASImage: "/r/cas.img", RuntimeImage: "/r/rt"},
			want: map[string]string{"-M": "virt,gic-version=host", "-cpu": "host", "-accel": "kvm"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := argv(tc.o)
			noNetwork(t, a)
			for _, f := range []string{"-nographic", "-no-reboot", "-nodefaults"} {
				if !slices.Contains(a, f) {
					t.Errorf("no %s in %q", f, a)
				}
			}
			for flag, want := range tc.want {
				if got := valueOf(a, flag); got != want {
					t.Errorf("%s %q, want %q", flag, got, want)
				}
			}
			var devs, drives []string
			for i := 0; i+1 < len(a); i++ {
				switch a[i] {
				case "-device":
					devs = append(devs, a[i+1])
				case "-drive":
					drives = append(drives, a[i+1])
				}
			}
			if tc.wantDev != nil && !slices.Equal(devs, tc.wantDev) {
				t.Errorf("devices %q\nwant    %q", devs, tc.wantDev)
			}
			if tc.wantDrive != nil {
				if len(drives) != len(tc.wantDrive) {
					t.Fatalf("drives %q, want %d", drives, len(tc.wantDrive))
				}
				for i, w := range tc.wantDrive {
					if !strings.Contains(drives[i], w) {
						t.Errorf("drive %d %q does not contain %q", i, drives[i], w)
					}
				}
			}
			if got := valueOf(a, "-chardev"); got != "stdio,id=console,signal=off" {
				t.Errorf("console chardev %q", got)
			}
			if !slices.Contains(a, "socket,id=channel,fd=3,server=on,wait=off") {
				t.Errorf("no channel chardev on fd 3 in %q", a)
			}
		})
	}
}

// TestCASDrive: Options.CASDrive replaces the CAS image as the CAS drive's
// file, and only that.
func TestCASDrive(t *testing.T) {
	cfg := vm.Config{Arch: vm.X86_64, Kernel: "/k", Initramfs: "/i", CASImage: "/r/cas.img", MemoryMiB: 512, CPUs: 1}
	for _, tc := range []struct {
		drive, want string
	}{
		{"", "file=/r/cas.img,format=raw,if=none,id=cas,"},
		{"nbd+unix:///?socket=/t/nbd.sock", "file=nbd+unix:///?socket=/t/nbd.sock,format=raw,if=none,id=cas,"},
	} {
		a := New(cfg, Options{Accel: TCG, CASDrive: tc.drive}).Argv()
		if got := valueOf(a, "-drive"); !strings.HasPrefix(got, tc.want) {
			t.Errorf("CASDrive %q: -drive %q, want it to start with %q", tc.drive, got, tc.want)
		}
	}
}
