package squashfs

import (
	"fmt"
	"runtime"
)

// Compression selects how data and metadata blocks are compressed.
type Compression int

const (
	// Zstd compresses with zstd (SquashFS compressor id 6).
	Zstd Compression = iota
	// Gzip compresses with zlib streams (SquashFS calls it gzip, id 1).
	Gzip
	// None stores every block uncompressed. The superblock still names gzip,
	// as mksquashfs -noI -noD -noF does, since SquashFS has no "none" id.
	None
)

// ParseCompression parses "zstd", "gzip" or "none".
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "zstd":
		return Zstd, nil
	case "gzip":
		return Gzip, nil
	case "none":
		return None, nil
	}
	return 0, fmt.Errorf("%w: unknown compression %q (want zstd, gzip or none)", ErrInvalidOptions, s)
}

// String returns the name ParseCompression accepts.
func (c Compression) String() string {
	switch c {
	case Zstd:
		return "zstd"
	case Gzip:
		return "gzip"
	case None:
		return "none"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// DefaultBlockSize is the data block size used when Options.BlockSize is 0.
const DefaultBlockSize = 128 << 10

// Options controls the image layout. The zero value means zstd at the
// default level with 128 KiB blocks.
type Options struct {
	Compression Compression
	// BlockSize is the data block size: a power of two from 4 KiB to
	// 1 MiB. 0 means DefaultBlockSize.
	BlockSize int
	// Level is the compression level: 1-22 for zstd (mapped onto the
	// nearest klauspost/compress level), 1-9 for gzip. 0 means the
	// mksquashfs defaults, 15 for zstd and 9 for gzip. Ignored for None.
	Level int
	// Workers is the number of goroutines compressing data blocks. 0 means
	// GOMAXPROCS. It never changes the output.
	Workers int
	// Progress, if not nil, is called from WriteTo's goroutine as it reads
	// file contents, the slow part of writing an image, with the bytes of
	// file data done so far and their total. It never changes the output.
	Progress func(done, total int64)
}

// withDefaults validates o and fills in its zero fields.
func (o Options) withDefaults() (Options, error) {
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.BlockSize < minBlockSize || o.BlockSize > maxBlockSize || o.BlockSize&(o.BlockSize-1) != 0 {
		return o, fmt.Errorf("%w: block size %d is not a power of two from %d to %d", ErrInvalidOptions, o.BlockSize, minBlockSize, maxBlockSize)
	}
	switch o.Compression {
	case Zstd:
		if o.Level == 0 {
			o.Level = 15
		}
		if o.Level < 1 || o.Level > 22 {
			return o, fmt.Errorf("%w: zstd level %d is outside 1-22", ErrInvalidOptions, o.Level)
		}
	case Gzip:
		if o.Level == 0 {
			o.Level = 9
		}
		if o.Level < 1 || o.Level > 9 {
			return o, fmt.Errorf("%w: gzip level %d is outside 1-9", ErrInvalidOptions, o.Level)
		}
	case None:
	default:
		return o, fmt.Errorf("%w: unknown compression %d", ErrInvalidOptions, int(o.Compression))
	}
	if o.Workers < 0 {
		return o, fmt.Errorf("%w: %d workers", ErrInvalidOptions, o.Workers)
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o, nil
}

// blockLog returns log2 of the block size.
func (o Options) blockLog() uint16 {
	var n uint16
	for s := o.BlockSize; s > 1; s >>= 1 {
		n++
	}
	return n
}
