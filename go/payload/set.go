package payload

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
)

// Set is the payloads one executable carries.
type Set struct {
	exe      string
	format   Format
	payloads []*Payload // sorted by name
	closer   io.Closer
}

// Open finds the payloads in the file exe. A file without payloads gives
// an empty Set; a file whose carrier is malformed gives an error wrapping
// [ErrCorrupt] or [ErrUnsupportedVersion]. Close the Set when its
// payloads are no longer needed.
func Open(exe string) (*Set, error) {
	f, err := os.Open(exe)
	if err != nil {
		return nil, err
	}
	s, err := openFile(f, exe)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// OpenSelf is Open of the running executable. On Linux it reads
// /proc/self/exe, which stays valid when the file has been replaced or
// deleted since the process started.
func OpenSelf() (*Set, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if runtime.GOOS == "linux" {
		if f, err := os.Open("/proc/self/exe"); err == nil {
			s, err := openFile(f, strings.TrimSuffix(exe, " (deleted)"))
			if err != nil {
				f.Close()
				return nil, err
			}
			return s, nil
		}
	}
	return Open(exe)
}

func openFile(f *os.File, exe string) (*Set, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	s, err := Parse(f, fi.Size(), exe)
	if err != nil {
		return nil, err
	}
	s.closer = f
	return s, nil
}

// Parse finds the payloads in the size bytes of r; exe names the file in
// messages. The Set reads r until the caller is done with it; its Close
// does not close r.
func Parse(r io.ReaderAt, size int64, exe string) (s *Set, err error) {
	if size < 0 {
		return nil, fmt.Errorf("%s: negative size %d", exe, size)
	}
	s = &Set{exe: exe}
	var ps []*Payload
	magic := make([]byte, 4)
	if _, err := r.ReadAt(magic, 0); err != nil {
		magic = nil
	}
	switch {
	case bytes.Equal(magic, []byte("\x7fELF")):
		s.format = ELF
		ps, err = readELF(r, size, exe)
	case isMachO(magic):
		s.format = MachO
		ps, err = readMachO(r, size, exe)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", exe, err)
	}
	if len(ps) == 0 {
		s.format = Trailer
		if ps, err = readTrailer(r, size, exe); err != nil {
			return nil, fmt.Errorf("%s: %w", exe, err)
		}
	}
	if len(ps) == 0 {
		s.format = NoFormat
	}
	// Blobs of a trailer were checked already; sections may overlap.
	slices.SortFunc(ps, func(a, b *Payload) int { return cmp.Compare(a.blobStart(), b.blobStart()) })
	for i := 1; i < len(ps); i++ {
		if a, b := ps[i-1], ps[i]; a.blobEnd() > b.blobStart() {
			return nil, fmt.Errorf("%s: %w: %s and %s overlap", exe, ErrCorrupt, a.location, b.location)
		}
	}
	slices.SortFunc(ps, func(a, b *Payload) int { return strings.Compare(a.name, b.name) })
	for i := 1; i < len(ps); i++ {
		if ps[i].name == ps[i-1].name {
			return nil, fmt.Errorf("%s: %w: two payloads named %s", exe, ErrCorrupt, ps[i].name)
		}
	}
	s.payloads = ps
	return s, nil
}

// Close releases the file Open read. The payloads cannot be read after.
func (s *Set) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// Executable returns the path of the file the payloads are in.
func (s *Set) Executable() string { return s.exe }

// Format returns where the payloads were found; NoFormat when there are
// none.
func (s *Set) Format() Format { return s.format }

// Payloads returns the payloads, sorted by name.
func (s *Set) Payloads() []*Payload { return slices.Clone(s.payloads) }

// Lookup returns the payload called name, or nil.
func (s *Set) Lookup(name string) *Payload {
	for _, p := range s.payloads {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Require returns the payload called name, or a [*NotEmbeddedError]
// (matching [ErrNotEmbedded]) telling the user to pass flag instead, e.g.
// "no kernel is embedded in /usr/bin/linux_actiond: pass --kernel".
func (s *Set) Require(name, flag string) (*Payload, error) {
	if p := s.Lookup(name); p != nil {
		return p, nil
	}
	return nil, &NotEmbeddedError{Name: name, Executable: s.exe, Flag: flag}
}
