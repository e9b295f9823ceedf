package deb

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// Index is a parsed Packages index and where it comes from.
type Index struct {
	Origin  Origin
	Entries []*IndexEntry
}

// ReadIndexFile reads a Packages index from path, uncompressed or
// compressed with gzip, xz, zstd or lz4 (recognised by their magic
// numbers, not the name), with the origin OriginFromPath gives.
func ReadIndexFile(path string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx, err := ReadIndex(f, OriginFromPath(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return idx, nil
}

// ReadIndex reads a Packages index from r, decompressing it if it starts
// with the magic number of gzip, xz, zstd or lz4. Every stanza needs
// Package, Version and Architecture; Filename, Size and SHA256 may be
// missing (locking such a package fails), but if present they must be
// well-formed.
func ReadIndex(r io.Reader, origin Origin) (*Index, error) {
	plain, closeFn, err := decompress(r)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	idx := &Index{Origin: origin}
	n := 0
	err = scanParagraphs(plain, func(c Control) error {
		n++
		e, err := entryFromControl(c)
		if err != nil {
			return fmt.Errorf("index stanza %d: %w", n, err)
		}
		e.Index = idx
		idx.Entries = append(idx.Entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return idx, nil
}

var (
	magicGzip = []byte{0x1f, 0x8b}
	magicXz   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicLz4  = []byte{0x04, 0x22, 0x4d, 0x18}
)

func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return nil, nil, err
	}
	noop := func() {}
	switch {
	case bytes.HasPrefix(head, magicGzip):
		gr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip index: %w", err)
		}
		return gr, func() { gr.Close() }, nil
	case bytes.HasPrefix(head, magicXz):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("xz index: %w", err)
		}
		return xr, noop, nil
	case bytes.HasPrefix(head, magicZstd):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd index: %w", err)
		}
		return zr, zr.Close, nil
	case bytes.HasPrefix(head, magicLz4):
		return lz4.NewReader(br), noop, nil
	}
	return br, noop, nil
}
