// Package kernel holds the boot test of the actiond guest kernel that
// kernel/build.sh builds; the package has no code of its own.
package kernel

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// bootTarget describes how to boot one architecture's kernel under QEMU.
type bootTarget struct {
	arch    string // as kernel/build.sh names it
	goarch  string
	env     string // overrides the kernel's path
	image   string // file name in the build cache
	qemu    string
	machine []string
	console string
	// devices are QEMU arguments for the virtio-serial bus "vs", the
	// virtio-blk disk "d0" and the entropy device.
	devices []string
}

var targets = []bootTarget{
	{
		arch: "x86_64", goarch: "amd64", env: "ACTIOND_TEST_KERNEL_X86_64", image: "bzImage",
		qemu: "qemu-system-x86_64", machine: []string{"-M", "q35"}, console: "ttyS0",
		devices: []string{"-device", "virtio-serial-pci,id=vs", "-device", "virtio-blk-pci,drive=d0", "-device", "virtio-rng-pci"},
	},
	{
		// The serial bus is virtio-mmio, the disk and entropy device PCI:
		// both transports are exercised.
		arch: "arm64", goarch: "arm64", env: "ACTIOND_TEST_KERNEL_ARM64", image: "Image",
		qemu: "qemu-system-aarch64", machine: []string{"-M", "virt", "-cpu", "cortex-a57"}, console: "ttyAMA0",
		devices: []string{"-device", "virtio-serial-device,id=vs", "-device", "virtio-blk-pci,drive=d0", "-device", "virtio-rng-pci"},
	},
}

// portName is the virtio-serial port the guest must find and write to.
const portName = "actiond.bootcheck"

// TestBoot boots each kernel under QEMU TCG, without a network device, with
// an initramfs whose /init (testdata/bootcheck) checks the kernel features the
// guest needs and powers off.
func TestBoot(t *testing.T) {
	for _, target := range targets {
		t.Run(target.arch, func(t *testing.T) {
			kernel := kernelPath(t, target)
			qemu, err := exec.LookPath(target.qemu)
			if err != nil {
				t.Skipf("%s not found (apt-get install qemu-system-x86 qemu-system-arm): %v", target.qemu, err)
			}
			dir := t.TempDir()
			initramfs := filepath.Join(dir, "initramfs.cpio.zst")
			writeInitramfs(t, initramfs, buildBootcheck(t, target.goarch, dir))
			disk := filepath.Join(dir, "disk.raw")
			if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			portOut := filepath.Join(dir, "port.out")

			args := append([]string{}, target.machine...)
			args = append(args,
				"-accel", "tcg", "-m", "512", "-smp", "2",
				"-kernel", kernel, "-initrd", initramfs,
				"-append", fmt.Sprintf("console=%s quiet panic=-1 bootcheck.port=%s bootcheck.disk=vda bootcheck.rng=1", target.console, portName),
				"-nographic", "-no-reboot", "-nic", "none",
				"-chardev", "file,id=port,path="+portOut,
				"-drive", "file="+disk+",format=raw,if=none,id=d0",
			)
			args = append(args, target.devices...)
			args = append(args, "-device", "virtserialport,bus=vs.0,chardev=port,name="+portName)

			// The deadline only bounds a hung guest; it asserts nothing.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, qemu, args...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var console, stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var result string
			var bootTime time.Duration
			scanner := bufio.NewScanner(io.TeeReader(stdout, &console))
			for scanner.Scan() {
				// The line may follow the firmware's output without a newline.
				if i := strings.Index(scanner.Text(), "bootcheck: "); i >= 0 && result == "" {
					result, bootTime = strings.TrimSpace(scanner.Text()[i:]), time.Since(start)
				}
			}
			waitErr := cmd.Wait()
			if !strings.HasPrefix(result, "bootcheck: OK") {
				t.Fatalf("no OK line from the guest (got %q, qemu: %v, %s); console:\n%s", result, waitErr, stderr.Bytes(), printable(console.Bytes()))
			}
			if waitErr != nil {
				t.Fatalf("qemu after the OK line: %v (power-off failed?), %s; console:\n%s", waitErr, stderr.Bytes(), printable(console.Bytes()))
			}
			got, err := os.ReadFile(portOut)
			if err != nil {
				t.Fatal(err)
			}
			if want := "bootcheck: port " + portName + "\n"; string(got) != want {
				t.Errorf("virtio-serial port output %q, want %q", got, want)
			}
			t.Logf("%s: %s; QEMU start to that line: %v", target.arch, result, bootTime.Round(time.Millisecond))
		})
	}
}

// terminalControl matches the carriage returns and escape sequences (screen
// clears) that the firmware and the serial console write.
var terminalControl = regexp.MustCompile(`\r|\x1b(\[[0-9;?]*[A-Za-z]|c)`)

func printable(console []byte) string {
	return terminalControl.ReplaceAllString(string(console), "")
}

// kernelPath returns the kernel named by the target's environment variable,
// else the latest one kernel/build.sh built; it skips the test when neither
// exists.
func kernelPath(t *testing.T, target bootTarget) string {
	t.Helper()
	if p := os.Getenv(target.env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", target.env, err)
		}
		return p
	}
	cache := os.Getenv("ACTIOND_KERNEL_CACHE")
	if cache == "" {
		cache = "/var/cache/actiond/kernel"
	}
	p := filepath.Join(cache, "latest-"+target.arch, target.image)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no %s kernel: set %s or run kernel/build.sh %s OUT_DIR (%v)", target.arch, target.env, target.arch, err)
	}
	return p
}

// buildBootcheck builds testdata/bootcheck as a static binary for goarch.
func buildBootcheck(t *testing.T, goarch, dir string) string {
	t.Helper()
	if _, err := os.Stat("testdata/bootcheck/main.go"); err != nil {
		t.Skipf("the source of the test's /init is not here (run with go test): %v", err)
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		var lookErr error
		if goTool, lookErr = exec.LookPath("go"); lookErr != nil {
			t.Skipf("no go command to build the test's /init: %v", lookErr)
		}
	}
	out := filepath.Join(dir, "init-"+goarch)
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/bootcheck")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build bootcheck: %v\n%s", err, b)
	}
	return out
}

// writeInitramfs writes a zstd-compressed newc archive holding /dev/console
// and the init program as /init.
func writeInitramfs(t *testing.T, path, init string) {
	t.Helper()
	program, err := os.ReadFile(init)
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	w := newcWriter{w: &archive}
	w.entry("dev", 0o040755, 0, 0, nil)
	w.entry("dev/console", 0o020600, 5, 1, nil)
	w.entry("init", 0o100755, 0, 0, program)
	w.entry("TRAILER!!!", 0, 0, 0, nil)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, enc.EncodeAll(archive.Bytes(), nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newcWriter writes the cpio "newc" format the kernel unpacks as initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst).
type newcWriter struct {
	w   *bytes.Buffer
	ino int
}

func (n *newcWriter) entry(name string, mode, rdevMajor, rdevMinor int, data []byte) {
	n.ino++
	nlink := 1
	if mode&0o040000 != 0 {
		nlink = 2
	}
	fmt.Fprintf(n.w, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		n.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	n.w.WriteString(name)
	n.w.WriteByte(0)
	n.pad()
	n.w.Write(data)
	n.pad()
}

func (n *newcWriter) pad() {
	for n.w.Len()%4 != 0 {
		n.w.WriteByte(0)
	}
}
