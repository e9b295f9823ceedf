package reapi

import (
	"context"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// maxZstdWindow bounds the memory one zstd stream may make the decoder
// allocate. 128 MiB admits `zstd --long=27` and level 22, the largest
// windows zstd uses without --long=N flags above that, and keeps a hostile
// frame header from reserving gigabytes.
const maxZstdWindow = 128 << 20

// narrowZstdWindow is the largest window a pooled streaming decoder
// accepts: 8 MiB is what the zstd format asks every decoder to support and
// what levels 1 to 19 use (Bazel's default level uses 2 MiB or less). A
// streaming decoder allocates its whole window when a frame starts, so
// wider frames are decoded by at most maxWideDecoders streams at once.
const narrowZstdWindow = 8 << 20

// maxWideDecoders bounds the streams decoding frames with windows above
// narrowZstdWindow: each costs up to maxZstdWindow of memory.
const maxWideDecoders = 4

// zstdPool recycles encoders and narrow-window decoders: each holds
// buffers of several MiB, and building one per request would cost more than
// the data it handles for small blobs.
type zstdPool struct {
	encoders sync.Pool
	decoders sync.Pool
	wide     chan struct{} // one token per wide-window decoder in use
}

var zstdCodecs = zstdPool{wide: make(chan struct{}, maxWideDecoders)}

// frameWindow is the history a streaming decoder allocates for a frame
// with header h.
func frameWindow(h *zstd.Header) uint64 {
	if h.SingleSegment {
		return h.FrameContentSize
	}
	return h.WindowSize
}

// streamDecoder returns a decoder reading r, whose stream starts with
// prefix (the bytes already received, at least the frame header), and the
// function that gives it back. A stream whose first frame needs a window of
// at most narrowZstdWindow gets a pooled decoder that refuses wider frames
// later on; a wider one waits (until ctx is done) for one of the
// maxWideDecoders slots. Concurrency 1 makes the decoder work synchronously
// in the caller's goroutine, so a request's decoding stops when the request
// does.
func (p *zstdPool) streamDecoder(ctx context.Context, prefix []byte, r io.Reader) (*zstd.Decoder, func(), error) {
	var h zstd.Header
	if err := h.Decode(prefix); err == nil && !h.Skippable && frameWindow(&h) <= narrowZstdWindow {
		d, err := p.decoder(r)
		if err != nil {
			return nil, nil, err
		}
		return d, func() { p.putDecoder(d) }, nil
	}
	select {
	case p.wide <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	d, err := zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxZstdWindow),
		zstd.WithDecoderMaxMemory(maxZstdWindow))
	if err != nil {
		<-p.wide
		return nil, nil, err
	}
	// Not pooled: an idle decoder would keep its wide window.
	return d, func() { d.Close(); <-p.wide }, nil
}

// decoder returns a pooled narrow-window decoder reading r.
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
		zstd.WithDecoderMaxWindow(narrowZstdWindow),
		zstd.WithDecoderMaxMemory(narrowZstdWindow))
}

// putDecoder returns d to the pool, dropping its reference to the input.
func (p *zstdPool) putDecoder(d *zstd.Decoder) {
	if err := d.Reset(nil); err != nil {
		d.Close()
		return
	}
	p.decoders.Put(d)
}

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
