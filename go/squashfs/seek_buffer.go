package squashfs

import (
	"errors"
	"io"
)

// seekBuffer is an in-memory io.WriteSeeker, for writing images to plain
// io.Writers.
type seekBuffer struct {
	b   []byte
	pos int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if end := s.pos + len(p); end > len(s.b) {
		s.b = append(s.b, make([]byte, end-len(s.b))...)
	}
	n := copy(s.b[s.pos:], p)
	s.pos += n
	return n, nil
}

func (s *seekBuffer) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += int64(s.pos)
	case io.SeekEnd:
		offset += int64(len(s.b))
	}
	if offset < 0 {
		return 0, errors.New("seek before the start of the buffer")
	}
	s.pos = int(offset)
	return offset, nil
}
