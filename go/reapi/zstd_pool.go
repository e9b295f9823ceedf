package reapi

import (
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// maxZstdWindow bounds the memory one zstd stream may make the decoder
// allocate. 128 MiB admits `zstd --long=27`, the largest window zstd uses
// without --long=N flags above that, and keeps a hostile frame header from
// reserving gigabytes.
const maxZstdWindow = 128 << 20

// zstdPool recycles encoders and decoders: each holds buffers of several
// MiB, and building one per request would cost more than the data it
// handles for small blobs.
type zstdPool struct {
	encoders sync.Pool
	decoders sync.Pool
}

var zstdCodecs zstdPool

// inflater decodes whole zstd blobs (BatchUpdateBlobs entries) into a
// buffer of their declared size and no further: with the cap limit,
// DecodeAll writes straight into dst and keeps its history there, so a
// frame header claiming a 128 MiB window costs nothing and output beyond
// cap(dst) is ErrDecoderSizeExceeded. A streaming decoder instead
// allocates its whole window up front, which 64 parallel batch entries of
// 46 bytes each could turn into 8 GiB. The decoder is shared: DecodeAll is
// safe for concurrent use and runs up to the concurrency given here at once.
var inflater = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(max(4, runtime.GOMAXPROCS(0))),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxWindow(maxZstdWindow),
		zstd.WithDecoderMaxMemory(maxZstdWindow))
})

// decoder returns a decoder reading r. Concurrency 1 makes it decode
// synchronously in the caller's goroutine, so a request's decoding stops
// when the request does.
func (p *zstdPool) decoder(r io.Reader) (*zstd.Decoder, error) {
	if d, ok := p.decoders.Get().(*zstd.Decoder); ok {
		if err := d.Reset(r); err != nil {
			d.Close()
			return nil, err
		}
		return d, nil
	}
	return zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxZstdWindow),
		zstd.WithDecoderMaxMemory(maxZstdWindow))
}

// putDecoder returns d to the pool, dropping its reference to the input.
func (p *zstdPool) putDecoder(d *zstd.Decoder) {
	if err := d.Reset(nil); err != nil {
		d.Close()
		return
	}
	p.decoders.Put(d)
}

// encoder returns an encoder writing to w. The fastest level keeps the
// read path near disk speed; the clients asked for compression to save
// bandwidth, not for the best ratio.
func (p *zstdPool) encoder(w io.Writer) (*zstd.Encoder, error) {
	if e, ok := p.encoders.Get().(*zstd.Encoder); ok {
		e.Reset(w)
		return e, nil
	}
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1))
}

// putEncoder returns e to the pool; the caller has closed it.
func (p *zstdPool) putEncoder(e *zstd.Encoder) {
	e.Reset(nil)
	p.encoders.Put(e)
}
