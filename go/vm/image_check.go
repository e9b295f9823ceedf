package vm

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
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
	case arch == X86_64 && isBz:
		return checkBzImage(f, path, what)
	case arch == ARM64 && isArm:
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

// checkBzImage checks a bzImage's size against its header and, when its
// payload is gzip (what kernel/build.sh makes), decompresses the payload to
// check its CRC: the kernel's own decompressor reports neither a truncated
// nor a corrupt payload anywhere the host sees (the guest resets or hangs
// with an empty console), so both must be caught here. Field offsets are
// the x86 boot protocol's (Documentation/arch/x86/boot.rst).
func checkBzImage(f *os.File, path, what string) error {
	hdr := make([]byte, 0x250)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return fmt.Errorf("--kernel %s is truncated (%v): rebuild it, or pass %s", path, err, what)
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	setupSects := int64(hdr[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	setupBytes := (setupSects + 1) * 512
	want := setupBytes + 16*int64(binary.LittleEndian.Uint32(hdr[0x1f4:]))
	if st.Size() < want {
		return fmt.Errorf("--kernel %s is truncated (%d bytes, its header says %d): rebuild it, or pass %s", path, st.Size(), want, what)
	}
	version := binary.LittleEndian.Uint16(hdr[0x206:])
	payloadOff := setupBytes + int64(binary.LittleEndian.Uint32(hdr[0x248:]))
	payloadLen := int64(binary.LittleEndian.Uint32(hdr[0x24c:]))
	if version < 0x208 || payloadLen == 0 || payloadOff+payloadLen > st.Size() || !hasAt(f, payloadOff, gzipMagic) {
		// An older protocol, or a payload compressed otherwise: nothing
		// more to check cheaply.
		return nil
	}
	z, err := gzip.NewReader(io.NewSectionReader(f, payloadOff, payloadLen))
	if err == nil {
		// One member: the build may append the decompressed size after it.
		z.Multistream(false)
		_, err = io.Copy(io.Discard, z)
	}
	if err != nil {
		return fmt.Errorf("--kernel %s is corrupt (its compressed kernel fails to decompress: %v): rebuild it, or pass %s", path, err, what)
	}
	return nil
}

// ELF machine numbers of the guest architectures.
var elfMachine = map[Arch]uint16{X86_64: 62, ARM64: 183}

// CheckInitramfs checks that path is a newc cpio archive, plain or zstd or
// gzip compressed, that holds an /init for arch, reading it through so
// that a truncated or corrupt one fails here rather than as a kernel panic
// in the guest.
func CheckInitramfs(path string, arch Arch) error {
	const what = "the initramfs built by vm/build_initramfs.sh (or //vm:initramfs)"
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
	init, err := readNewc(r)
	var notCpio errNotNewc
	switch {
	case errors.As(err, &notCpio):
		return fmt.Errorf("--initramfs %s does not hold a newc cpio archive: pass %s", path, what)
	case err != nil:
		return fmt.Errorf("--initramfs %s is corrupt (%v): rebuild it or pass %s", path, err, what)
	}
	// The rest (padding, further archives) must still decompress.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("--initramfs %s is corrupt (%v): rebuild it or pass %s", path, err, what)
	}
	if init == nil {
		return fmt.Errorf("--initramfs %s has no /init, so the kernel has nothing to run: pass %s", path, what)
	}
	if len(init) >= 20 && bytes.HasPrefix(init, []byte("\x7fELF")) {
		m := binary.LittleEndian.Uint16(init[18:])
		if m != elfMachine[arch] {
			other := "an arm64"
			if m == elfMachine[X86_64] {
				other = "an x86_64"
			} else if m != elfMachine[ARM64] {
				other = fmt.Sprintf("a machine %d", m)
			}
			return fmt.Errorf("--initramfs %s has %s /init, not %s: pass the initramfs built by vm/build_initramfs.sh %s", path, other, arch, map[Arch]string{X86_64: "amd64", ARM64: "arm64"}[arch])
		}
	}
	return nil
}

// errNotNewc is readNewc's error for a stream that does not begin with a
// newc header.
type errNotNewc struct{}

func (errNotNewc) Error() string { return "not a newc cpio archive" }

// initHeadBytes is how much of /init readNewc keeps: its ELF header.
const initHeadBytes = 64

// readNewc reads a newc cpio archive from r up to and including its
// trailer and returns the first bytes of its regular file "init" (nil when
// there is none). A stream that ends before the trailer is an error.
func readNewc(r io.Reader) (init []byte, err error) {
	hdr := make([]byte, 110)
	var off int64
	skip := func(n int64) error {
		if _, err := io.CopyN(io.Discard, r, n); err != nil {
			return fmt.Errorf("the cpio archive ends early: %w", err)
		}
		off += n
		return nil
	}
	pad := func() error { return skip((4 - off%4) % 4) }
	for first := true; ; first = false {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if first && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
				return nil, errNotNewc{}
			}
			if first {
				return nil, err // the decompressor's
			}
			return nil, fmt.Errorf("the cpio archive ends before its trailer: %w", err)
		}
		off += int64(len(hdr))
		if !bytes.Equal(hdr[:5], newcMagic) || (hdr[5] != '1' && hdr[5] != '2') {
			if first {
				return nil, errNotNewc{}
			}
			return nil, fmt.Errorf("bad cpio header at byte %d", off-int64(len(hdr)))
		}
		field := func(i int) (int64, error) {
			var v uint32
			_, err := fmt.Sscanf(string(hdr[6+8*i:14+8*i]), "%08x", &v)
			return int64(v), err
		}
		mode, err1 := field(1)
		size, err2 := field(6)
		nameSize, err3 := field(11)
		if err := errors.Join(err1, err2, err3); err != nil || nameSize == 0 || nameSize > 4096 {
			return nil, fmt.Errorf("bad cpio header at byte %d", off-int64(len(hdr)))
		}
		name := make([]byte, nameSize)
		if _, err := io.ReadFull(r, name); err != nil {
			return nil, fmt.Errorf("the cpio archive ends early: %w", err)
		}
		off += nameSize
		if err := pad(); err != nil {
			return nil, err
		}
		n := string(bytes.TrimRight(name, "\x00"))
		if n == "TRAILER!!!" {
			return init, nil
		}
		if (n == "init" || n == "./init" || n == "/init") && mode&0o170000 == 0o100000 {
			init = make([]byte, min(size, initHeadBytes))
			if _, err := io.ReadFull(r, init); err != nil {
				return nil, fmt.Errorf("the cpio archive ends early: %w", err)
			}
			off += int64(len(init))
			size -= int64(len(init))
		}
		if err := skip(size); err != nil {
			return nil, err
		}
		if err := pad(); err != nil {
			return nil, err
		}
	}
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
