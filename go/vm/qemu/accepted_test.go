//go:build linux

package qemu

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/vm"
)

// requireQEMU skips the test when the emulator for arch is not installed.
func requireQEMU(t *testing.T, arch vm.Arch) string {
	t.Helper()
	bin, err := exec.LookPath(DefaultBinary(arch))
	if err != nil {
		t.Skipf("%s is not installed (apt-get install qemu-system-x86 qemu-system-arm): %v", DefaultBinary(arch), err)
	}
	return bin
}

// fakeKernel is the header of an x86 bzImage (enough for QEMU to load it)
// or of an arm64 Image; the guest never runs it.
func fakeKernel(t *testing.T, arch vm.Arch) string {
	b := make([]byte, 8192)
	if arch == vm.X86_64 {
		b[0x1f1] = 1 // setup sectors
		copy(b[0x1fe:], "\x55\xaa")
		copy(b[0x202:], "HdrS")
		binary.LittleEndian.PutUint16(b[0x206:], 0x020f) // boot protocol
		b[0x211] = 1                                     // loaded high
		binary.LittleEndian.PutUint32(b[0x22c:], 0x37ffffff)
	} else {
		copy(b[0x38:], "ARM\x64")
	}
	p := filepath.Join(t.TempDir(), "kernel")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// unixListenerFile listens on a socket in dir and returns it as a file
// QEMU can inherit, and the path to dial.
func unixListenerFile(t *testing.T, dir, name string) (*os.File, string) {
	path := filepath.Join(dir, name)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	return f, path
}

// TestArgvAcceptedByQEMU starts QEMU paused with the real argv and asks it
// over QMP which PCI devices the guest would see: QEMU must accept every
// option, and there must be no network controller and exactly the disks,
// entropy and serial devices asked for.
func TestArgvAcceptedByQEMU(t *testing.T) {
	for _, arch := range []vm.Arch{vm.X86_64, vm.ARM64} {
		t.Run(string(arch), func(t *testing.T) {
			bin := requireQEMU(t, arch)
			dir := t.TempDir()
			cas := filepath.Join(dir, "cas.img")
			rt := filepath.Join(dir, "runtime.squashfs")
			for _, p := range []string{cas, rt} {
				if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			initrd := filepath.Join(dir, "initrd")
			os.WriteFile(initrd, []byte("070701"), 0o644)
			a := argv(argvOptions{Arch: arch, Accel: TCG, Kernel: fakeKernel(t, arch), Initramfs: initrd, Cmdline: "quiet",
				MemoryMiB: 256, CPUs: 2, CASImage: cas, RuntimeImage: rt})
			channel, _ := unixListenerFile(t, dir, "channel.sock")
			qmp, qmpPath := unixListenerFile(t, dir, "qmp.sock")
			a = append(a, "-S", "-chardev", "socket,id=qmp,fd=4,server=on,wait=off", "-mon", "chardev=qmp,mode=control")
			cmd := exec.Command(bin, a...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			cmd.ExtraFiles = []*os.File{channel, qmp}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			channel.Close()
			qmp.Close()
			defer func() { cmd.Process.Kill(); cmd.Wait() }()

			conn, err := net.Dial("unix", qmpPath)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			// QEMU greets once its machine is built, or exits on a bad option.
			if _, err := r.ReadString('\n'); err != nil {
				cmd.Wait()
				t.Fatalf("QEMU refused the argv: %v\n%s", err, stderr.String())
			}
			pci := qmpCall(t, conn, r, "qmp_capabilities", "query-pci")
			var resp struct {
				Return []struct {
					Devices []struct {
						ClassInfo struct{ Desc string } `json:"class_info"`
						ID        struct{ Device int }  `json:"id"`
						QdevID    string                `json:"qdev_id"`
					}
				}
			}
			if err := json.Unmarshal(pci, &resp); err != nil {
				t.Fatalf("query-pci: %v: %s", err, pci)
			}
			virtio := map[int]int{}
			for _, bus := range resp.Return {
				for _, d := range bus.Devices {
					if strings.Contains(strings.ToLower(d.ClassInfo.Desc), "ethernet") || strings.Contains(strings.ToLower(d.ClassInfo.Desc), "network") {
						t.Errorf("network controller on the guest's PCI bus: %+v", d)
					}
					virtio[d.ID.Device]++
				}
			}
			// Virtio PCI device ids, transitional or modern: block 0x1001
			// or 0x1042, console 0x1003 or 0x1043, entropy 0x1005 or
			// 0x1044.
			if virtio[0x1001]+virtio[0x1042] != 2 || virtio[0x1003]+virtio[0x1043] != 1 || virtio[0x1005]+virtio[0x1044] != 1 {
				t.Errorf("virtio devices by id %v, want 2 block, 1 console, 1 entropy; query-pci: %s", virtio, pci)
			}
		})
	}
}

// qmpCall runs QMP commands in order and returns the last one's response.
func qmpCall(t *testing.T, conn net.Conn, r *bufio.Reader, cmds ...string) []byte {
	var line []byte
	for _, c := range cmds {
		fmt.Fprintf(conn, "{\"execute\":%q}\n", c)
		for {
			var err error
			line, err = r.ReadBytes('\n')
			if err != nil {
				t.Fatalf("QMP %s: %v", c, err)
			}
			if !strings.Contains(string(line), `"event"`) {
				break
			}
		}
	}
	return line
}
