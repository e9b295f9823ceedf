package payload

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

const (
	headerSize    = 80
	formatVersion = 1
	nameFieldSize = 16
)

var headerMagic = [8]byte{'A', 'C', 'T', 'D', 'P', 'A', 'Y', 'L'}

// header is the decoded 80-byte header in front of each blob's data.
type header struct {
	name        string
	compression Compression
	size        int64 // uncompressed
	stored      int64 // data bytes after the header
	sum         [sha256.Size]byte
}

func (h *header) encode() []byte {
	b := make([]byte, headerSize)
	copy(b[0:8], headerMagic[:])
	binary.LittleEndian.PutUint16(b[8:], formatVersion)
	binary.LittleEndian.PutUint16(b[10:], uint16(h.compression))
	copy(b[16:32], h.name)
	binary.LittleEndian.PutUint64(b[32:], uint64(h.size))
	binary.LittleEndian.PutUint64(b[40:], uint64(h.stored))
	copy(b[48:80], h.sum[:])
	return b
}

// decodeHeader parses and checks a header; it does not know where the
// header came from, callers check name and stored size against the carrier.
func decodeHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerSize {
		return h, fmt.Errorf("%w: header truncated to %d bytes", ErrCorrupt, len(b))
	}
	if !bytes.Equal(b[0:8], headerMagic[:]) {
		return h, fmt.Errorf("%w: bad header magic %q", ErrCorrupt, b[0:8])
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != formatVersion {
		return h, fmt.Errorf("%w: header version %d (this build reads %d)", ErrUnsupportedVersion, v, formatVersion)
	}
	h.compression = Compression(binary.LittleEndian.Uint16(b[10:]))
	if h.compression != None && h.compression != Zstd {
		return h, fmt.Errorf("%w: unknown compression %d", ErrCorrupt, uint16(h.compression))
	}
	if r := binary.LittleEndian.Uint32(b[12:]); r != 0 {
		return h, fmt.Errorf("%w: reserved header field is %#x, want 0", ErrCorrupt, r)
	}
	name, err := decodeName(b[16:32])
	if err != nil {
		return h, err
	}
	h.name = name
	size, stored := binary.LittleEndian.Uint64(b[32:]), binary.LittleEndian.Uint64(b[40:])
	if size > math.MaxInt64 || stored > math.MaxInt64 {
		return h, fmt.Errorf("%w: payload %s: sizes %d and %d overflow", ErrCorrupt, name, size, stored)
	}
	h.size, h.stored = int64(size), int64(stored)
	if h.compression == None && h.size != h.stored {
		return h, fmt.Errorf("%w: payload %s: uncompressed but size %d differs from stored size %d", ErrCorrupt, name, h.size, h.stored)
	}
	if h.compression == Zstd && h.stored == 0 {
		return h, fmt.Errorf("%w: payload %s: zstd with no data", ErrCorrupt, name)
	}
	copy(h.sum[:], b[48:80])
	return h, nil
}

// decodeName reads a NUL-padded name field.
func decodeName(b []byte) (string, error) {
	n := bytes.IndexByte(b, 0)
	if n < 0 {
		n = len(b)
	}
	if !allZero(b[n:]) {
		return "", fmt.Errorf("%w: name field %q has bytes after its NUL", ErrCorrupt, b)
	}
	name := string(b[:n])
	if err := ValidateName(name); err != nil {
		return "", fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return name, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// readBlob reads the blob at [off, off+length) of r, which belongs to the
// carrier entry called name, and returns its payload. exact says whether
// the stored data must fill the blob (trailer) or may be followed by
// padding (sections).
func readBlob(r io.ReaderAt, off, length int64, name string, exact bool, exe, location string) (*Payload, error) {
	if length < headerSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, shorter than a payload header", ErrCorrupt, location, length)
	}
	b := make([]byte, headerSize)
	if _, err := r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("%w: reading the header of %s: %v", ErrCorrupt, location, err)
	}
	h, err := decodeHeader(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	if h.name != name {
		return nil, fmt.Errorf("%w: %s holds payload %q", ErrCorrupt, location, h.name)
	}
	avail := length - headerSize
	if h.stored > avail || exact && h.stored != avail {
		return nil, fmt.Errorf("%w: %s: header says %d stored bytes, %d follow it", ErrCorrupt, location, h.stored, avail)
	}
	return &Payload{
		name:        h.name,
		exe:         exe,
		location:    location,
		compression: h.compression,
		size:        h.size,
		sum:         h.sum,
		data:        io.NewSectionReader(r, off+headerSize, h.stored),
	}, nil
}
