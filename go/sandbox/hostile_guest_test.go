//go:build linux

package sandbox_test

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// guestEnv, set on the guest kernel's command line (the kernel passes it
// to /init's environment), makes this test binary, as the guest's PID 1,
// set the guest up and run the tests named after "--" (see runAsGuestInit).
const guestEnv = "ACTIOND_SANDBOX_GUEST"

// guestTests are the tests TestHostileAttemptsInGuest runs in the guest:
// the root mode, as the guest's daemon runs its sandbox.
const guestTests = "^(TestHostileAttempts|TestConcurrentActionsIsolated|TestClosedStdio)$/^root$"

// guestPortsLine is printed by the guest init with the virtio-serial
// ports it has.
const guestPortsLine = "actiond-sandbox-guest-ports"

// guestExitLine is printed by the guest init with m.Run's exit code.
const guestExitLine = "actiond-sandbox-guest-exit"

// runAsGuestInit is TestMain as the guest's PID 1: it mounts what the
// sandbox needs from the system (/proc, /dev, /tmp), runs the tests, prints
// their exit code and powers off.
func runAsGuestInit(m interface{ Run() int }) {
	for _, mnt := range []struct{ fs, target string }{
		{"proc", "/proc"}, {"devtmpfs", "/dev"}, {"tmpfs", "/tmp"}, {"sysfs", "/sys"},
	} {
		if err := os.MkdirAll(mnt.target, 0o755); err != nil {
			fmt.Println("guest init:", err)
		}
		if err := unix.Mount(mnt.fs, mnt.target, mnt.fs, 0, ""); err != nil && err != unix.EBUSY {
			fmt.Printf("guest init: mount %s: %v\n", mnt.target, err)
		}
	}
	// The channel the guest's daemon talks to the host through: there,
	// and the sandbox must not reach it.
	ports, _ := filepath.Glob("/dev/vport*")
	fmt.Printf("%s %q\n", guestPortsLine, ports)
	os.Setenv("TMPDIR", "/tmp")
	os.Setenv("PATH", "/")
	probePath = "/probe"
	code := m.Run()
	fmt.Printf("%s %d\n", guestExitLine, code)
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// TestHostileAttemptsInGuest runs guestTests inside an x86_64 guest under
// QEMU (TCG), on the guest kernel kernel/build.sh builds: VM mode runs the
// same sandbox, on another kernel, as root. The guest's initramfs holds
// this test binary as /init and the probe.
func TestHostileAttemptsInGuest(t *testing.T) {
	requireProbe(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("boots this test binary as an x86_64 guest's /init")
	}
	kernel := os.Getenv("ACTIOND_TEST_KERNEL_X86_64")
	if kernel == "" {
		cache := os.Getenv("ACTIOND_KERNEL_CACHE")
		if cache == "" {
			cache = "/var/cache/actiond/kernel"
		}
		kernel = filepath.Join(cache, "latest-x86_64", "bzImage")
		if _, err := os.Stat(kernel); err != nil {
			t.Skipf("no x86_64 guest kernel: set ACTIOND_TEST_KERNEL_X86_64 or run kernel/build.sh x86_64 (%v)", err)
		}
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if f, err := elf.Open(self); err != nil {
		t.Fatal(err)
	} else {
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				f.Close()
				t.Skip("the test binary is dynamically linked; the guest has no libraries (go test builds it static)")
			}
		}
		f.Close()
	}
	initramfs := filepath.Join(t.TempDir(), "initramfs.cpio")
	writeGuestInitramfs(t, initramfs, map[string]string{"init": self, "probe": probePath})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-M", "q35", "-accel", "tcg", "-m", "1024", "-smp", "2",
		"-kernel", kernel, "-initrd", initramfs,
		"-append", "console=ttyS0 quiet panic=-1 "+guestEnv+"=1 -- -test.run="+guestTests+" -test.v -test.count=1",
		"-device", "virtio-rng-pci",
		"-chardev", "null,id=channel", "-device", "virtio-serial-pci", "-device", "virtserialport,chardev=channel,name=actiond.test",
		"-nographic", "-no-reboot", "-nic", "none")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	console := strings.ReplaceAll(out.String(), "\r", "")
	t.Logf("guest console:\n%s", console)
	if err != nil {
		t.Fatalf("qemu: %v", err)
	}
	if !strings.Contains(console, guestExitLine+" 0\n") {
		t.Fatalf("the tests in the guest did not pass (no %q line)", guestExitLine+" 0")
	}
	if !strings.Contains(console, guestPortsLine+" [\"/dev/vport") {
		t.Errorf("the guest has no virtio-serial port: the attempt to open one proves nothing")
	}
	for _, name := range []string{"TestHostileAttempts/root", "TestConcurrentActionsIsolated/root", "TestClosedStdio/root"} {
		if !strings.Contains(console, "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass in the guest", name)
		}
	}
}

// writeGuestInitramfs writes an uncompressed newc archive with /dev and
// /dev/console and each file of files (name in the archive -> host path),
// executable.
func writeGuestInitramfs(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var b bytes.Buffer
	ino := 0
	entry := func(name string, mode, major, minor int, data []byte) {
		ino++
		nlink := 1
		if mode&0o170000 == 0o040000 {
			nlink = 2
		}
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, nlink, 0, len(data), 0, 0, major, minor, len(name)+1, 0)
		b.WriteString(name)
		b.WriteByte(0)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	entry("dev", 0o040755, 0, 0, nil)
	entry("dev/console", 0o020600, 5, 1, nil)
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		entry(name, 0o100755, 0, 0, data)
	}
	entry("TRAILER!!!", 0, 0, 0, nil)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
