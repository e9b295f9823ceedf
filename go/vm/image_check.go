package vm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/klauspost/compress/zstd"
)

// Magic numbers of the boot files, from the formats' specifications.
var (
	bzImageMagic  = []byte("HdrS")    // x86 boot protocol, at 0x202
	arm64Magic    = []byte("ARM\x64") // arm64 Image header, at 0x38
	zstdMagic     = []byte("\x28\xb5\x2f\xfd")
	gzipMagic     = []byte("\x1f\x8b")
	newcMagic     = []byte("07070") // followed by 1 (newc) or 2 (crc)
	squashfsMagic = []byte("hsqs")  // little-endian SquashFS 4
)

// openBootFile opens a file named by flag, with errors saying what to pass.
func openBootFile(flag, path, what string) (*os.File, error) {
	if path == "" {
		return nil, fmt.Errorf("--%s is required: pass %s", flag, what)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--%s %s does not exist: pass %s", flag, path, what)
	}
	if err != nil {
		return nil, fmt.Errorf("--%s %s cannot be read (%v): fix its permissions or pass %s", flag, path, errors.Unwrap(err), what)
	}
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("--%s %s is not a regular file: pass %s", flag, path, what)
	}
	return f, nil
}

// hasAt reports whether the file holds magic at off.
func hasAt(r io.ReaderAt, off int64, magic []byte) bool {
	b := make([]byte, len(magic))
	n, _ := r.ReadAt(b, off)
	return n == len(b) && bytes.Equal(b, magic)
}

// CheckKernel checks that path is a kernel the guest architecture boots: an
// x86_64 bzImage or an uncompressed arm64 Image.
func CheckKernel(path string, arch Arch) error {
	what := fmt.Sprintf("the %s guest kernel built by kernel/build.sh %s", arch, arch)
	f, err := openBootFile("kernel", path, what)
	if err != nil {
		return err
	}
	defer f.Close()
	isBz, isArm := hasAt(f, 0x202, bzImageMagic), hasAt(f, 0x38, arm64Magic)
	switch {
	case arch == X86_64 && isBz, arch == ARM64 && isArm:
		return nil
	case arch == X86_64 && isArm:
		return fmt.Errorf("--kernel %s is an arm64 Image, not an x86_64 bzImage: pass %s or use --arch=arm64", path, what)
	case arch == ARM64 && isBz:
		return fmt.Errorf("--kernel %s is an x86_64 bzImage, not an arm64 Image: pass %s or use --arch=x86_64", path, what)
	case arch == ARM64 && hasAt(f, 0, gzipMagic):
		return fmt.Errorf("--kernel %s is gzip-compressed: pass the uncompressed arm64 Image (arch/arm64/boot/Image)", path)
	case arch == X86_64:
		return fmt.Errorf("--kernel %s is not an x86_64 bzImage (no \"HdrS\" at 0x202): pass %s", path, what)
	default:
		return fmt.Errorf("--kernel %s is not an arm64 Image (no \"ARM\\x64\" at 0x38): pass %s", path, what)
	}
}

// CheckInitramfs checks that path is a newc cpio archive, plain or zstd or
// gzip compressed, and reads it through so that a truncated or corrupt one
// fails here rather than as a kernel panic in the guest.
func CheckInitramfs(path string) error {
	const what = "the initramfs built by //vm:initramfs"
	f, err := openBootFile("initramfs", path, what)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader
	switch {
	case hasAt(f, 0, zstdMagic):
		d, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return fmt.Errorf("--initramfs %s: %v", path, err)
		}
		defer d.Close()
		r = d
	case hasAt(f, 0, gzipMagic):
		z, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("--initramfs %s is a corrupt gzip file (%v): rebuild it or pass %s", path, err, what)
		}
		r = z
	case hasAt(f, 0, newcMagic):
		r = f
	default:
		return fmt.Errorf("--initramfs %s is not an initramfs (neither zstd, gzip nor a newc cpio archive): pass %s", path, what)
	}
	head := make([]byte, len(newcMagic)+1)
	if _, err := io.ReadFull(r, head); err != nil {
		return fmt.Errorf("--initramfs %s is corrupt (%v): rebuild it or pass %s", path, err, what)
	}
	if !bytes.Equal(head[:len(newcMagic)], newcMagic) || (head[5] != '1' && head[5] != '2') {
		return fmt.Errorf("--initramfs %s does not hold a newc cpio archive: pass %s", path, what)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("--initramfs %s is corrupt (%v): rebuild it or pass %s", path, err, what)
	}
	return nil
}

// CheckRuntimeImage checks that path is a SquashFS image.
func CheckRuntimeImage(path string) error {
	const what = "a runtime SquashFS image (//runtimes:runtimes_squashfs or e2e/build_local_runtimes.sh)"
	f, err := openBootFile("runtime-image", path, what)
	if err != nil {
		return err
	}
	defer f.Close()
	if !hasAt(f, 0, squashfsMagic) {
		return fmt.Errorf("--runtime-image %s is not a SquashFS image (no \"hsqs\" at 0): pass %s", path, what)
	}
	return nil
}
