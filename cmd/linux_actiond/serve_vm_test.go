//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/vm"
)

// bootFiles writes a kernel and an initramfs that pass validation (their
// headers only) and returns their paths.
func bootFiles(t *testing.T) (kernel, initramfs string) {
	dir := t.TempDir()
	kernel = filepath.Join(dir, "bzImage")
	k := make([]byte, 4096)
	copy(k[0x202:], "HdrS")
	copy(k[0x38:], "") // not arm64
	if vm.HostArch() == vm.ARM64 {
		k = make([]byte, 4096)
		copy(k[0x38:], "ARM\x64")
	}
	initramfs = filepath.Join(dir, "initramfs.cpio")
	if err := os.WriteFile(kernel, k, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initramfs, newc(t, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return kernel, initramfs
}

// newc is a newc cpio archive of files (path: content, mode 0755) plus
// /dev/console, with its trailer.
func newc(t *testing.T, files map[string][]byte) []byte {
	var b bytes.Buffer
	ino := 1
	entry := func(name string, mode, rmajor, rminor int, data []byte) {
		fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, rmajor, rminor, len(name)+1, 0)
		ino++
		b.WriteString(name + "\x00")
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	entry("dev", 0o40755, 0, 0, nil)
	entry("dev/console", 0o20600, 5, 1, nil)
	for name, data := range files {
		entry(name, 0o100755, 0, 0, data)
	}
	entry("TRAILER!!!", 0, 0, 0, nil)
	return b.Bytes()
}

func TestServeVMArguments(t *testing.T) {
	kernel, initramfs := bootFiles(t)
	text := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(text, []byte("not a kernel\n"), 0o644)
	root := t.TempDir()
	valid := []string{"serve-vm", "--root=" + root, "--kernel=" + kernel, "--initramfs=" + initramfs}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOutput string
	}{
		{"help", []string{"help"}, 0, "linux_actiond serve-vm [flags]"},
		{"help serve-vm", []string{"help", "serve-vm"}, 0, "-cas-image-size-mib"},
		{"help lists start timeout", []string{"help", "serve-vm"}, 0, "-start-timeout-ms"},
		{"unknown flag", []string{"serve-vm", "--jobs=2"}, 2, "flag provided but not defined: -jobs"},
		{"stray argument", []string{"serve-vm", "extra"}, 2, "unexpected arguments"},
		{"bad log format", []string{"serve-vm", "--log-format=xml"}, 2, `--log-format "xml"`},
		{"bad arch", []string{"serve-vm", "--arch=mips"}, 2, `--arch: architecture "mips"`},
		{"bad listen", []string{"serve-vm", "--listen=8980"}, 2, `--listen "8980"`},
		{"no kernel", []string{"serve-vm", "--root=" + root, "--initramfs=" + initramfs}, 2, "--kernel is required"},
		{"text file as kernel", append(valid, "--kernel="+text), 2, "is not an " + string(vm.HostArch())},
		{"text file as initramfs", append(valid, "--initramfs="+text), 2, "--initramfs " + text + " is not an initramfs"},
		{"runtime image not squashfs", append(valid, "--runtime-image="+text), 2, "not a SquashFS image"},
		{"too little memory", append(valid, "--memory-mib=100"), 2, "--memory-mib 100 is too little for the guest: give at least 256"},
		{"zero cpus", append(valid, "--cpus=0"), 2, "--cpus must be at least 1"},
		{"zero start timeout", append(valid, "--start-timeout-ms=0"), 2, "--start-timeout-ms must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(tc.args, &stdout, &stderr)
			if got != tc.wantCode {
				t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tc.args, got, tc.wantCode, stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tc.wantOutput) {
				t.Errorf("run(%q) output does not contain %q:\n%s", tc.args, tc.wantOutput, out)
			}
		})
	}
}

func TestServeVMRefusesASecondOnTheSameRootOrImage(t *testing.T) {
	kernel, initramfs := bootFiles(t)
	root, other := t.TempDir(), t.TempDir()
	state, err := vm.OpenStateDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	img, err := vm.OpenCASImage(filepath.Join(other, "cas.img"), 64)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"same root", []string{"--root=" + root}, "is in use by another serve-vm: stop that one or give another --root"},
		{"same image", []string{"--root=" + t.TempDir(), "--cas-image=" + img.Path}, "is in use by another serve-vm: stop that one or give another --cas-image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"serve-vm", "--kernel=" + kernel, "--initramfs=" + initramfs, "--log-format=text"}, tc.args...)
			if got := run(args, &stdout, &stderr); got != 1 {
				t.Errorf("exit code %d, want 1", got)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr does not contain %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}

// silentSession is a channel session to a guest that never answers.
type silentSession struct{ done chan struct{} }

func (s *silentSession) Dial(ctx context.Context) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (s *silentSession) Forward(ctx context.Context, l net.Listener) error { <-ctx.Done(); return nil }
func (s *silentSession) Done() <-chan struct{}                             { return s.done }
func (s *silentSession) Close() error                                      { return nil }

// TestServeVMReportsEarlyGuestExit boots the real guest kernel with an
// initramfs whose /init powers off at once: serve-vm must exit non-zero,
// saying the VM exited before answering, with the console's last lines.
func TestServeVMReportsEarlyGuestExit(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("boots the x86_64 kernel")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skipf("QEMU is not installed (apt-get install qemu-system-x86): %v", err)
	}
	kernel := os.Getenv("ACTIOND_TEST_KERNEL_X86_64")
	if kernel == "" {
		kernel = "/var/cache/actiond/kernel/latest-x86_64/bzImage"
	}
	if _, err := os.Stat(kernel); err != nil {
		t.Skipf("no x86_64 guest kernel (kernel/build.sh x86_64, or set ACTIOND_TEST_KERNEL_X86_64): %v", err)
	}
	dir := t.TempDir()
	init := filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-o", init, "./testdata/poweroff")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	initBytes, err := os.ReadFile(init)
	if err != nil {
		t.Fatal(err)
	}
	initramfs := filepath.Join(dir, "initramfs.cpio")
	if err := os.WriteFile(initramfs, newc(t, map[string][]byte{"init": initBytes}), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := newSession
	newSession = func(io.ReadWriteCloser) (vm.Session, error) { return &silentSession{done: make(chan struct{})}, nil }
	defer func() { newSession = saved }()

	root := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve-vm", "--root=" + root, "--kernel=" + kernel, "--initramfs=" + initramfs,
		"--memory-mib=256", "--cpus=1", "--cas-image-size-mib=64", "--start-timeout-ms=600000", "--log-format=text", "--listen=127.0.0.1:0"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	log := stderr.String()
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "accelerator") || strings.Contains(l, "serve-vm failed") {
			t.Log(l)
		}
	}
	for _, want := range []string{"the VM exited before the guest answered", "poweroff-init: this guest powers off before serving", "actiond.format_cas=1"} {
		if !strings.Contains(log, want) {
			t.Errorf("log does not contain %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "vm", "cas.img")); err != nil {
		t.Errorf("no CAS image created: %v", err)
	}
}
