package vm_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/actiond/actiond/go/vm"
)

// A newc cpio archive holding only its trailer, as the kernel accepts.
var emptyNewc = []byte("07070100000000000000000000000000000000000000010000000000000000000000000000000000000000000000000000000b00000000TRAILER!!!\x00\x00\x00\x00")

func at(size, off int, magic string) []byte {
	b := make([]byte, size)
	copy(b[off:], magic)
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zstded(t *testing.T, b []byte) []byte {
	e, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return e.EncodeAll(b, nil)
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	bz := writeFile(t, dir, "bzImage", at(4096, 0x202, "HdrS"))
	image := writeFile(t, dir, "Image", at(4096, 0x38, "ARM\x64"))
	vmlinuzArm := writeFile(t, dir, "vmlinuz-arm64", gzipped(t, at(4096, 0x38, "ARM\x64")))
	text := writeFile(t, dir, "notes.txt", []byte(strings.Repeat("just some text\n", 100)))
	zstdInitrd := writeFile(t, dir, "initramfs.zst", zstded(t, emptyNewc))
	gzipInitrd := writeFile(t, dir, "initramfs.gz", gzipped(t, emptyNewc))
	plainInitrd := writeFile(t, dir, "initramfs.cpio", emptyNewc)
	corruptZstd := writeFile(t, dir, "corrupt.zst", append([]byte("\x28\xb5\x2f\xfd"), bytes.Repeat([]byte{0xa5}, 500)...))
	full := gzipped(t, append(emptyNewc, bytes.Repeat([]byte{0}, 1<<16)...))
	truncatedGzip := writeFile(t, dir, "truncated.gz", full[:len(full)/2])
	zstdNotCpio := writeFile(t, dir, "tar.zst", zstded(t, []byte("ustar and other things that are not cpio")))
	squash := writeFile(t, dir, "runtimes.squashfs", at(4096, 0, "hsqs"))
	unreadable := writeFile(t, dir, "unreadable", at(4096, 0x202, "HdrS"))
	os.Chmod(unreadable, 0)

	valid := func() vm.Config {
		return vm.Config{
			Kernel: bz, Initramfs: zstdInitrd, RuntimeImage: squash,
			CASImage: filepath.Join(dir, "cas.img"), CASImageSizeMiB: 1024,
			MemoryMiB: 2048, CPUs: 2, Arch: vm.X86_64, StartTimeout: time.Minute,
		}
	}
	tests := []struct {
		name    string
		edit    func(c *vm.Config)
		wantErr []string // all in the error; none means valid
	}{
		{"valid x86_64", func(c *vm.Config) {}, nil},
		{"valid arm64", func(c *vm.Config) { c.Arch, c.Kernel = vm.ARM64, image }, nil},
		{"gzip initramfs", func(c *vm.Config) { c.Initramfs = gzipInitrd }, nil},
		{"plain cpio initramfs", func(c *vm.Config) { c.Initramfs = plainInitrd }, nil},
		{"no runtime image", func(c *vm.Config) { c.RuntimeImage = "" }, nil},
		{"no kernel", func(c *vm.Config) { c.Kernel = "" }, []string{"--kernel is required", "kernel/build.sh x86_64"}},
		{"missing kernel", func(c *vm.Config) { c.Kernel = filepath.Join(dir, "nope") }, []string{"does not exist", "kernel/build.sh"}},
		{"text file as kernel", func(c *vm.Config) { c.Kernel = text }, []string{"not an x86_64 bzImage", "pass the x86_64 guest kernel built by kernel/build.sh x86_64"}},
		{"arm64 Image for x86_64", func(c *vm.Config) { c.Kernel = image }, []string{"is an arm64 Image", "--arch=arm64"}},
		{"bzImage for arm64", func(c *vm.Config) { c.Arch = vm.ARM64 }, []string{"is an x86_64 bzImage", "--arch=x86_64"}},
		{"compressed arm64 kernel", func(c *vm.Config) { c.Arch, c.Kernel = vm.ARM64, vmlinuzArm }, []string{"gzip-compressed", "uncompressed arm64 Image"}},
		{"text file as arm64 kernel", func(c *vm.Config) { c.Arch, c.Kernel = vm.ARM64, text }, []string{"not an arm64 Image", "kernel/build.sh arm64"}},
		{"kernel is a directory", func(c *vm.Config) { c.Kernel = dir }, []string{"not a regular file"}},
		{"missing initramfs", func(c *vm.Config) { c.Initramfs = filepath.Join(dir, "nope") }, []string{"--initramfs", "does not exist", "//vm:initramfs"}},
		{"text file as initramfs", func(c *vm.Config) { c.Initramfs = text }, []string{"not an initramfs", "//vm:initramfs"}},
		{"corrupt zstd initramfs", func(c *vm.Config) { c.Initramfs = corruptZstd }, []string{"--initramfs", "corrupt", "rebuild it"}},
		{"truncated gzip initramfs", func(c *vm.Config) { c.Initramfs = truncatedGzip }, []string{"--initramfs", "corrupt", "rebuild it"}},
		{"zstd but not cpio", func(c *vm.Config) { c.Initramfs = zstdNotCpio }, []string{"does not hold a newc cpio archive", "//vm:initramfs"}},
		{"runtime image not squashfs", func(c *vm.Config) { c.RuntimeImage = text }, []string{"--runtime-image", "not a SquashFS image", "runtimes_squashfs"}},
		{"missing runtime image", func(c *vm.Config) { c.RuntimeImage = filepath.Join(dir, "nope") }, []string{"--runtime-image", "does not exist"}},
		{"too little memory", func(c *vm.Config) { c.MemoryMiB = 128 }, []string{"--memory-mib 128 is too little", "at least 256"}},
		{"no cpus", func(c *vm.Config) { c.CPUs = 0 }, []string{"--cpus must be at least 1"}},
		{"negative jobs", func(c *vm.Config) { c.Jobs = -1 }, []string{"--jobs must be 0"}},
		{"tiny cas image", func(c *vm.Config) { c.CASImageSizeMiB = 10 }, []string{"--cas-image-size-mib 10 is too small"}},
		{"bad arch", func(c *vm.Config) { c.Arch = "riscv64" }, []string{`--arch "riscv64"`}},
		{"no start timeout", func(c *vm.Config) { c.StartTimeout = 0 }, []string{"--start-timeout-ms must be positive"}},
	}
	if os.Geteuid() != 0 { // root reads everything
		tests = append(tests, struct {
			name    string
			edit    func(c *vm.Config)
			wantErr []string
		}{"unreadable kernel", func(c *vm.Config) { c.Kernel = unreadable }, []string{"cannot be read", "fix its permissions"}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tc.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has several lines: %q", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
