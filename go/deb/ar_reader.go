package deb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const (
	arMagic      = "!<arch>\n"
	arHeaderSize = 60
)

// arMember locates one member of an ar archive.
type arMember struct {
	name   string
	offset int64 // of the member's data
	size   int64
}

// readArMembers lists the members of the ar archive held in r[0:size]. It
// reads only the headers, so listing a large .deb is cheap.
func readArMembers(r io.ReaderAt, size int64) ([]arMember, error) {
	magic := make([]byte, len(arMagic))
	if n, err := r.ReadAt(magic, 0); n < len(magic) {
		if n == 0 && size == 0 {
			return nil, fmt.Errorf("empty file: %w", ErrNotAr)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading ar magic: %w", err)
		}
		if !strings.HasPrefix(arMagic, string(magic[:n])) {
			return nil, fmt.Errorf("magic %q: %w", magic[:n], ErrNotAr)
		}
		return nil, fmt.Errorf("ar magic is %d of 8 bytes: %w", n, ErrTruncated)
	}
	if string(magic) != arMagic {
		return nil, fmt.Errorf("magic %q: %w", magic, ErrNotAr)
	}
	var members []arMember
	offset := int64(len(arMagic))
	header := make([]byte, arHeaderSize)
	for offset < size {
		n, err := r.ReadAt(header, offset)
		if n < arHeaderSize {
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("reading ar header at offset %d: %w", offset, err)
			}
			return nil, fmt.Errorf("ar header at offset %d is %d of %d bytes: %w", offset, n, arHeaderSize, ErrTruncated)
		}
		if !bytes.Equal(header[58:60], []byte("`\n")) {
			return nil, fmt.Errorf("ar header at offset %d has no end marker: %w", offset, ErrMalformed)
		}
		name := strings.TrimRight(string(header[0:16]), " ")
		// GNU ar terminates names with "/"; Debian's does not, but accept both.
		name = strings.TrimSuffix(name, "/")
		sizeField := strings.TrimRight(string(header[48:58]), " ")
		memberSize, err := strconv.ParseInt(sizeField, 10, 64)
		if err != nil || memberSize < 0 {
			return nil, fmt.Errorf("ar member %q: size field %q: %w", name, sizeField, ErrMalformed)
		}
		dataOffset := offset + arHeaderSize
		if remaining := size - dataOffset; memberSize > remaining {
			return nil, fmt.Errorf("ar member %q: header says %d bytes, only %d remain: %w", name, memberSize, remaining, ErrTruncated)
		}
		members = append(members, arMember{name: name, offset: dataOffset, size: memberSize})
		// Member data is padded to an even offset.
		offset = dataOffset + memberSize + memberSize%2
	}
	return members, nil
}
