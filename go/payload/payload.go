package payload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Payload is one file carried by an executable. Its methods read the
// executable through the [Set] it came from, which must stay open.
type Payload struct {
	name        string
	exe         string
	location    string
	compression Compression
	size        int64
	sum         [sha256.Size]byte
	data        *io.SectionReader
}

// Name returns the payload's name, e.g. [Kernel].
func (p *Payload) Name() string { return p.name }

// Size returns the size of the content in bytes, once extracted.
func (p *Payload) Size() int64 { return p.size }

// StoredSize returns the number of bytes the content takes in the
// executable, compressed or not, header excluded.
func (p *Payload) StoredSize() int64 { return p.data.Size() }

// Compression returns how the content is stored.
func (p *Payload) Compression() Compression { return p.compression }

// SHA256 returns the lowercase hex SHA-256 of the content, as recorded in
// the executable.
func (p *Payload) SHA256() string { return hex.EncodeToString(p.sum[:]) }

// Location says where in the executable the payload is, for messages: e.g.
// `ELF section ".actiond.kernel"`.
func (p *Payload) Location() string { return p.location }

// FileName returns the name Extract gives the content: "<name>-<sha256>".
func (p *Payload) FileName() string { return p.name + "-" + p.SHA256() }

// blobStart and blobEnd bound the blob, header included, in the file.
func (p *Payload) blobStart() int64 {
	_, off, _ := p.data.Outer()
	return off - headerSize
}

func (p *Payload) blobEnd() int64 {
	_, off, n := p.data.Outer()
	return off + n
}

// Verify reads and inflates the content and checks its size and hash,
// without writing anything.
func (p *Payload) Verify(ctx context.Context) error {
	return p.copyTo(ctx, io.Discard, nil)
}

// copyBuffer is the unit of reading, of context checks and of progress.
const copyBuffer = 1 << 20

// copyTo writes the content to w, inflated, and returns nil only when it
// has exactly the recorded size and hash.
func (p *Payload) copyTo(ctx context.Context, w io.Writer, progress func(done, total int64)) error {
	src := io.Reader(io.NewSectionReader(p.data, 0, p.data.Size()))
	if p.compression == Zstd {
		// The window bound keeps a corrupt frame from reserving the memory
		// it claims; writeBlob's frames use half of it.
		d, err := zstd.NewReader(src, zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return p.errorf("%w", err)
		}
		defer d.Close()
		src = d
	}
	h := sha256.New()
	buf := make([]byte, copyBuffer)
	var done int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			done += int64(n)
			if done > p.size {
				return p.errorf("%w: content is longer than the recorded %d bytes", ErrCorrupt, p.size)
			}
			h.Write(buf[:n])
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if progress != nil {
				progress(done, p.size)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			if p.compression == Zstd {
				return p.errorf("%w: inflating: %v", ErrCorrupt, err)
			}
			return p.errorf("reading: %w", err)
		}
	}
	if done != p.size {
		return p.errorf("%w: content is %d bytes, want %d", ErrCorrupt, done, p.size)
	}
	return p.checkSum(h)
}

func (p *Payload) checkSum(h hash.Hash) error {
	if got := h.Sum(nil); string(got) != string(p.sum[:]) {
		return p.errorf("%w: want %s, got %x", ErrHashMismatch, p.SHA256(), got)
	}
	return nil
}

// errorf prefixes an error with the payload and the executable.
func (p *Payload) errorf(format string, args ...any) error {
	return fmt.Errorf("payload %s in %s: "+format, append([]any{p.name, p.exe}, args...)...)
}
