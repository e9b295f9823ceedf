package squashfs

import (
	"bytes"

	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// compressor compresses one block at a time. It is used by one goroutine.
type compressor interface {
	// compress returns the compressed form of src, or nil when storing src
	// as is is no larger. The result is valid until the next call.
	compress(src []byte) []byte
}

// newCompressorFactory returns a function making compressors for o, one per
// goroutine; the zstd encoder behind them is shared.
func newCompressorFactory(o Options) (func() compressor, error) {
	switch o.Compression {
	case Zstd:
		enc, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(o.Level)),
			zstd.WithEncoderConcurrency(o.Workers+1),
			// The kernel sizes its zstd window to the block size, so every
			// frame must carry its content size and no larger window.
			zstd.WithSingleSegment(true),
			zstd.WithEncoderCRC(false),
			zstd.WithZeroFrames(true),
		)
		if err != nil {
			return nil, err
		}
		return func() compressor { return &zstdCompressor{enc: enc} }, nil
	case Gzip:
		// klauspost/compress's zlib is faster than the standard library's
		// at the same level and compresses about as well.
		level := o.Level
		return func() compressor { return &zlibCompressor{level: level} }, nil
	default:
		return func() compressor { return noCompressor{} }, nil
	}
}

type zstdCompressor struct {
	enc *zstd.Encoder
	buf []byte
}

func (c *zstdCompressor) compress(src []byte) []byte {
	c.buf = c.enc.EncodeAll(src, c.buf[:0])
	if len(c.buf) >= len(src) {
		return nil
	}
	return c.buf
}

type zlibCompressor struct {
	level int
	w     *zlib.Writer
	buf   bytes.Buffer
}

func (c *zlibCompressor) compress(src []byte) []byte {
	c.buf.Reset()
	if c.w == nil {
		// The level was validated, so NewWriterLevel cannot fail.
		c.w, _ = zlib.NewWriterLevel(&c.buf, c.level)
	} else {
		c.w.Reset(&c.buf)
	}
	// Writes into a bytes.Buffer cannot fail.
	_, _ = c.w.Write(src)
	_ = c.w.Close()
	if c.buf.Len() >= len(src) {
		return nil
	}
	return c.buf.Bytes()
}

type noCompressor struct{}

func (noCompressor) compress([]byte) []byte { return nil }
