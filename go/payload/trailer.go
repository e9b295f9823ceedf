package payload

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

const (
	footerSize         = 32
	manifestHeaderSize = 16
	manifestEntrySize  = 32
	maxManifestEntries = 64
)

var (
	manifestMagic = [8]byte{'A', 'C', 'T', 'D', 'M', 'A', 'N', 'I'}
	footerMagic   = [8]byte{'A', 'C', 'T', 'D', 'T', 'R', 'L', 'R'}
)

// extent is one manifest entry: a blob's name and place in the file.
type extent struct {
	name        string
	off, length int64
}

// readTrailer returns the payloads of the trailer ending r, or none when
// r does not end with the footer magic.
func readTrailer(r io.ReaderAt, size int64, exe string) ([]*Payload, error) {
	if size < footerSize {
		return nil, nil
	}
	foot := make([]byte, footerSize)
	if _, err := r.ReadAt(foot, size-footerSize); err != nil {
		return nil, fmt.Errorf("%w: reading the trailer footer: %v", ErrCorrupt, err)
	}
	if !bytes.Equal(foot[24:32], footerMagic[:]) {
		return nil, nil
	}
	if v := binary.LittleEndian.Uint32(foot[16:]); v != formatVersion {
		return nil, fmt.Errorf("%w: trailer version %d (this build reads %d)", ErrUnsupportedVersion, v, formatVersion)
	}
	if v := binary.LittleEndian.Uint32(foot[20:]); v != 0 {
		return nil, fmt.Errorf("%w: reserved footer field is %#x, want 0", ErrCorrupt, v)
	}
	moff, mlen := binary.LittleEndian.Uint64(foot[0:]), binary.LittleEndian.Uint64(foot[8:])
	end := uint64(size - footerSize)
	if err := checkExtent(moff, mlen, end); err != nil {
		return nil, fmt.Errorf("%w: trailer manifest: %v", ErrCorrupt, err)
	}
	if moff+mlen != end {
		return nil, fmt.Errorf("%w: trailer manifest ends at %d, the footer starts at %d", ErrCorrupt, moff+mlen, end)
	}
	if mlen < manifestHeaderSize || (mlen-manifestHeaderSize)%manifestEntrySize != 0 ||
		(mlen-manifestHeaderSize)/manifestEntrySize > maxManifestEntries {
		return nil, fmt.Errorf("%w: trailer manifest length %d", ErrCorrupt, mlen)
	}
	m := make([]byte, mlen)
	if _, err := r.ReadAt(m, int64(moff)); err != nil {
		return nil, fmt.Errorf("%w: reading the trailer manifest: %v", ErrCorrupt, err)
	}
	exts, err := decodeManifest(m, int64(moff))
	if err != nil {
		return nil, err
	}
	ps := make([]*Payload, 0, len(exts))
	for _, e := range exts {
		loc := fmt.Sprintf("trailer entry %s", e.name)
		p, err := readBlob(r, e.off, e.length, e.name, true, exe, loc)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// decodeManifest parses and checks the manifest m, whose blobs must lie
// in [0, limit) without overlapping.
func decodeManifest(m []byte, limit int64) ([]extent, error) {
	if !bytes.Equal(m[0:8], manifestMagic[:]) {
		return nil, fmt.Errorf("%w: bad trailer manifest magic %q", ErrCorrupt, m[0:8])
	}
	if v := binary.LittleEndian.Uint32(m[8:]); v != formatVersion {
		return nil, fmt.Errorf("%w: trailer manifest version %d (this build reads %d)", ErrUnsupportedVersion, v, formatVersion)
	}
	n := binary.LittleEndian.Uint32(m[12:])
	if uint64(n) != uint64(len(m)-manifestHeaderSize)/manifestEntrySize {
		return nil, fmt.Errorf("%w: trailer manifest of %d bytes claims %d entries", ErrCorrupt, len(m), n)
	}
	exts := make([]extent, n)
	for i := range exts {
		b := m[manifestHeaderSize+i*manifestEntrySize:][:manifestEntrySize]
		name, err := decodeName(b[0:16])
		if err != nil {
			return nil, fmt.Errorf("trailer manifest entry %d: %w", i, err)
		}
		off, length := binary.LittleEndian.Uint64(b[16:]), binary.LittleEndian.Uint64(b[24:])
		if err := checkExtent(off, length, uint64(limit)); err != nil {
			return nil, fmt.Errorf("%w: trailer entry %s: %v", ErrCorrupt, name, err)
		}
		exts[i] = extent{name: name, off: int64(off), length: int64(length)}
	}
	sorted := slices.Clone(exts)
	slices.SortFunc(sorted, func(a, b extent) int { return cmp.Compare(a.off, b.off) })
	for i := 1; i < len(sorted); i++ {
		if a, b := sorted[i-1], sorted[i]; a.off+a.length > b.off {
			return nil, fmt.Errorf("%w: trailer entries %s and %s overlap", ErrCorrupt, a.name, b.name)
		}
	}
	return exts, nil
}

func encodeManifest(exts []extent) []byte {
	m := make([]byte, manifestHeaderSize+len(exts)*manifestEntrySize)
	copy(m[0:8], manifestMagic[:])
	binary.LittleEndian.PutUint32(m[8:], formatVersion)
	binary.LittleEndian.PutUint32(m[12:], uint32(len(exts)))
	for i, e := range exts {
		b := m[manifestHeaderSize+i*manifestEntrySize:]
		copy(b[0:16], e.name)
		binary.LittleEndian.PutUint64(b[16:], uint64(e.off))
		binary.LittleEndian.PutUint64(b[24:], uint64(e.length))
	}
	return m
}

func encodeFooter(moff, mlen int64) []byte {
	b := make([]byte, footerSize)
	binary.LittleEndian.PutUint64(b[0:], uint64(moff))
	binary.LittleEndian.PutUint64(b[8:], uint64(mlen))
	binary.LittleEndian.PutUint32(b[16:], formatVersion)
	copy(b[24:32], footerMagic[:])
	return b
}
