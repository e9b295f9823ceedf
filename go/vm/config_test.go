package vm_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/actiond/actiond/go/vm"
)

// newc is a newc cpio archive of the files (name: content, mode 0755) in
// order, with its trailer.
func newc(files ...namedFile) []byte {
	var b bytes.Buffer
	entry := func(name string, mode int, data []byte) {
		fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			b.Len()+1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name + "\x00")
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	for _, f := range files {
		entry(f.name, 0o100755, f.data)
	}
	entry("TRAILER!!!", 0, nil)
	return b.Bytes()
}

type namedFile struct {
	name string
	data []byte
}

// elfHead is the start of an ELF executable for machine (62 x86_64, 183
// arm64).
func elfHead(machine uint16) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(b[16:], 2) // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], machine)
	return b
}

// bzImage is a bzImage header (boot protocol 2.15, two setup sectors)
// followed by payload as the compressed kernel, padded to the size the
// header states.
func bzImage(payload []byte) []byte {
	const setup = 3 * 512
	sys := (len(payload) + 15) / 16
	b := make([]byte, setup+16*sys)
	b[0x1f1] = 2
	binary.LittleEndian.PutUint32(b[0x1f4:], uint32(sys))
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(b[0x248:], 0)
	binary.LittleEndian.PutUint32(b[0x24c:], uint32(len(payload)))
	copy(b[setup:], payload)
	return b
}

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
	initX86 := namedFile{"init", append(elfHead(62), bytes.Repeat([]byte{0x90}, 1<<16)...)}
	cpio := newc(namedFile{"dev", nil}, initX86)
	zstdInitrd := writeFile(t, dir, "initramfs.zst", zstded(t, cpio))
	gzipInitrd := writeFile(t, dir, "initramfs.gz", gzipped(t, cpio))
	plainInitrd := writeFile(t, dir, "initramfs.cpio", cpio)
	corruptZstd := writeFile(t, dir, "corrupt.zst", append([]byte("\x28\xb5\x2f\xfd"), bytes.Repeat([]byte{0xa5}, 500)...))
	full := gzipped(t, append(cpio, bytes.Repeat([]byte{0}, 1<<16)...))
	truncatedGzip := writeFile(t, dir, "truncated.gz", full[:len(full)/2])
	truncatedZstd := writeFile(t, dir, "truncated.zst", zstded(t, cpio[:len(cpio)/2]))
	noInit := writeFile(t, dir, "noinit.zst", zstded(t, newc(namedFile{"sbin/mke2fs", elfHead(62)})))
	armInit := writeFile(t, dir, "arm.zst", zstded(t, newc(namedFile{"init", elfHead(183)})))
	kernelGz := gzipped(t, bytes.Repeat([]byte("a kernel "), 1<<14))
	bzGzip := writeFile(t, dir, "bzImage-gzip", bzImage(kernelGz))
	truncatedBz := writeFile(t, dir, "bzImage-truncated", bzImage(kernelGz)[:3*512+len(kernelGz)/2])
	corrupted := bzImage(kernelGz)
	for i := 3*512 + len(kernelGz)/2; i < 3*512+len(kernelGz)/2+64; i++ {
		corrupted[i] ^= 0x5a
	}
	corruptBz := writeFile(t, dir, "bzImage-corrupt", corrupted)
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
		{"valid arm64", func(c *vm.Config) { c.Arch, c.Kernel, c.Initramfs = vm.ARM64, image, armInit }, nil},
		{"gzip initramfs", func(c *vm.Config) { c.Initramfs = gzipInitrd }, nil},
		{"plain cpio initramfs", func(c *vm.Config) { c.Initramfs = plainInitrd }, nil},
		{"no runtime image", func(c *vm.Config) { c.RuntimeImage = "" }, nil},
		{"no kernel", func(c *vm.Config) { c.Kernel = "" }, []string{"--kernel is required", "kernel/build.sh x86_64"}},
		{"missing kernel", func(c *vm.Config) { c.Kernel = filepath.Join(dir, "nope") }, []string{"does not exist", "kernel/build.sh"}},
		{"bzImage with its gzip payload", func(c *vm.Config) { c.Kernel = bzGzip }, nil},
		{"truncated bzImage", func(c *vm.Config) { c.Kernel = truncatedBz }, []string{"--kernel " + truncatedBz + " is truncated", "its header says", "rebuild it", "kernel/build.sh x86_64"}},
		{"corrupt bzImage payload", func(c *vm.Config) { c.Kernel = corruptBz }, []string{"--kernel " + corruptBz + " is corrupt", "fails to decompress", "rebuild it", "kernel/build.sh x86_64"}},
		{"text file as kernel", func(c *vm.Config) { c.Kernel = text }, []string{"not an x86_64 bzImage", "pass the x86_64 guest kernel built by kernel/build.sh x86_64"}},
		{"arm64 Image for x86_64", func(c *vm.Config) { c.Kernel = image }, []string{"is an arm64 Image", "--arch=arm64"}},
		{"bzImage for arm64", func(c *vm.Config) { c.Arch = vm.ARM64 }, []string{"is an x86_64 bzImage", "--arch=x86_64"}},
		{"compressed arm64 kernel", func(c *vm.Config) { c.Arch, c.Kernel, c.Initramfs = vm.ARM64, vmlinuzArm, armInit }, []string{"gzip-compressed", "uncompressed arm64 Image"}},
		{"text file as arm64 kernel", func(c *vm.Config) { c.Arch, c.Kernel, c.Initramfs = vm.ARM64, text, armInit }, []string{"not an arm64 Image", "kernel/build.sh arm64"}},
		{"kernel is a directory", func(c *vm.Config) { c.Kernel = dir }, []string{"not a regular file"}},
		{"missing initramfs", func(c *vm.Config) { c.Initramfs = filepath.Join(dir, "nope") }, []string{"--initramfs", "does not exist", "//vm:initramfs"}},
		{"text file as initramfs", func(c *vm.Config) { c.Initramfs = text }, []string{"not an initramfs", "//vm:initramfs"}},
		{"corrupt zstd initramfs", func(c *vm.Config) { c.Initramfs = corruptZstd }, []string{"--initramfs", "corrupt", "rebuild it"}},
		{"truncated gzip initramfs", func(c *vm.Config) { c.Initramfs = truncatedGzip }, []string{"--initramfs", "corrupt", "rebuild it"}},
		{"cpio truncated inside a valid zstd frame", func(c *vm.Config) { c.Initramfs = truncatedZstd }, []string{"--initramfs", "corrupt", "ends", "vm/build_initramfs.sh"}},
		{"no /init", func(c *vm.Config) { c.Initramfs = noInit }, []string{"has no /init", "vm/build_initramfs.sh"}},
		{"arm64 /init for x86_64", func(c *vm.Config) { c.Initramfs = armInit }, []string{"has an arm64 /init, not x86_64", "vm/build_initramfs.sh amd64"}},
		{"x86_64 /init for arm64", func(c *vm.Config) { c.Arch, c.Kernel = vm.ARM64, image }, []string{"has an x86_64 /init, not arm64", "vm/build_initramfs.sh arm64"}},
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
