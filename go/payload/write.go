package payload

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// WriteSectionContent writes to out, from offset 0, the section content
// of src: one blob, as ld64's -sectcreate __ACTIOND __<name> FILE takes
// it. It returns the number of bytes written.
func WriteSectionContent(out io.WriterAt, src Source, c Compression) (int64, error) {
	if _, err := sortedSources([]Source{src}); err != nil {
		return 0, err
	}
	return writeBlob(out, 0, src, c)
}

// WriteTrailer writes to out the size bytes of exe followed by a trailer
// holding srcs (in name order), and returns the length of out. exe must
// carry no payloads yet ([ErrHasPayloads]) and must not be a Mach-O file,
// whose code signature the trailer would break.
func WriteTrailer(out io.WriterAt, exe io.ReaderAt, size int64, srcs []Source, c Compression) (int64, error) {
	srcs, err := sortedSources(srcs)
	if err != nil {
		return 0, err
	}
	if err := checkNoPayloads(exe, size); err != nil {
		return 0, err
	}
	magic := make([]byte, 4)
	if _, err := exe.ReadAt(magic, 0); err == nil && isMachO(magic) {
		return 0, fmt.Errorf("a trailer breaks the code signature of a Mach-O file: add sections at link time with -sectcreate")
	}
	if err := copyAt(out, exe, size); err != nil {
		return 0, err
	}
	off := size
	exts := make([]extent, len(srcs))
	for i, s := range srcs {
		n, err := writeBlob(out, off, s, c)
		if err != nil {
			return 0, err
		}
		exts[i] = extent{name: s.Name, off: off, length: n}
		off += n
	}
	m := encodeManifest(exts)
	if _, err := out.WriteAt(m, off); err != nil {
		return 0, err
	}
	if _, err := out.WriteAt(encodeFooter(off, int64(len(m))), off+int64(len(m))); err != nil {
		return 0, err
	}
	return off + int64(len(m)) + footerSize, nil
}

// checkNoPayloads returns an error wrapping ErrHasPayloads if exe carries
// payloads, or the error reading it.
func checkNoPayloads(exe io.ReaderAt, size int64) error {
	s, err := Parse(exe, size, "reading its payloads")
	if err != nil {
		return err
	}
	if s.Format() != NoFormat {
		return fmt.Errorf("%w (%s: %d): build from the executable without them", ErrHasPayloads, s.Format(), len(s.payloads))
	}
	return nil
}

// copyAt copies the size bytes of r to the start of out.
func copyAt(out io.WriterAt, r io.ReaderAt, size int64) error {
	_, err := io.Copy(io.NewOffsetWriter(out, 0), io.NewSectionReader(r, 0, size))
	return err
}

const (
	// zstdWindow is the window of the frames writeBlob writes, and
	// maxZstdWindow the largest a reader accepts.
	zstdWindow    = 8 << 20
	maxZstdWindow = 16 << 20
)

// writeBlob writes the blob of src at off in out and returns its length.
func writeBlob(out io.WriterAt, off int64, src Source, c Compression) (int64, error) {
	f, err := os.Open(src.Path)
	if err != nil {
		return 0, fmt.Errorf("payload %s: %w", src.Name, err)
	}
	defer f.Close()
	h := sha256.New()
	in := io.TeeReader(f, h)
	w := &countingWriter{w: io.NewOffsetWriter(out, off+headerSize)}
	var size int64
	switch c {
	case None:
		size, err = io.Copy(w, in)
	case Zstd:
		// One encoder goroutine and fixed settings: the same input gives
		// the same frames on every run and machine.
		var enc *zstd.Encoder
		enc, err = zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
		if err != nil {
			return 0, err
		}
		size, err = io.Copy(enc, in)
		if cerr := enc.Close(); err == nil {
			err = cerr
		}
	default:
		return 0, fmt.Errorf("unknown compression %v", c)
	}
	if err != nil {
		return 0, fmt.Errorf("payload %s: %w", src.Name, err)
	}
	hd := header{name: src.Name, compression: c, size: size, stored: w.n}
	h.Sum(hd.sum[:0])
	if _, err := out.WriteAt(hd.encode(), off); err != nil {
		return 0, err
	}
	return headerSize + w.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
