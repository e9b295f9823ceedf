package deb

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Package is a parsed .deb: its control fields and the location of its
// data.tar member.
type Package struct {
	// Control holds the fields of the package's control file.
	Control Control

	r      io.ReaderAt
	data   arMember
	closer io.Closer
}

// Open opens and parses the .deb file at name. The caller must Close it.
func Open(name string) (*Package, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	p, err := Read(f, info.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.closer = f
	return p, nil
}

// Read parses the .deb held in r[0:size]. r must stay readable while the
// Package is used.
func Read(r io.ReaderAt, size int64) (*Package, error) {
	members, err := readArMembers(r, size)
	if err != nil {
		return nil, err
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("ar archive has no members: %w", ErrMissingMember)
	}
	if members[0].name != "debian-binary" {
		return nil, fmt.Errorf("first ar member is not debian-binary: %w", ErrMissingMember)
	}
	version := make([]byte, min(members[0].size, 16))
	// A complete read may still return io.EOF (an empty debian-binary at
	// the end of the file does), so judge by the count.
	if n, err := r.ReadAt(version, members[0].offset); n < len(version) {
		if err == nil || errors.Is(err, io.EOF) {
			err = ErrTruncated
		}
		return nil, fmt.Errorf("reading debian-binary: %w", err)
	}
	if !strings.HasPrefix(string(version), "2.") {
		return nil, fmt.Errorf("debian-binary says %q, want 2.x: %w", strings.TrimSpace(string(version)), ErrUnsupportedFormat)
	}
	p := &Package{r: r}
	var control *arMember
	for i := range members[1:] {
		m := &members[1+i]
		switch {
		case strings.HasPrefix(m.name, "control.tar") && control == nil:
			control = m
		case strings.HasPrefix(m.name, "data.tar") && p.data.name == "":
			p.data = *m
		}
	}
	if control == nil {
		return nil, fmt.Errorf("no control.tar member: %w", ErrMissingMember)
	}
	if p.data.name == "" {
		return nil, fmt.Errorf("no data.tar member: %w", ErrMissingMember)
	}
	// Check the data member's compression now, so that an unreadable
	// package fails when it is opened rather than halfway through a build.
	if _, err := compressionOf(p.data.name); err != nil {
		return nil, err
	}
	if p.Control, err = readControl(r, *control); err != nil {
		return nil, err
	}
	return p, nil
}

// Close closes the file opened by Open. It is a no-op for Read.
func (p *Package) Close() error {
	if p.closer == nil {
		return nil
	}
	return p.closer.Close()
}

// DataMember returns the ar member name of the data archive, such as
// "data.tar.xz".
func (p *Package) DataMember() string { return p.data.name }

// Data returns the decompressed data.tar stream. The caller must close it.
func (p *Package) Data() (io.ReadCloser, error) {
	return openMember(p.r, p.data)
}

func readControl(r io.ReaderAt, m arMember) (Control, error) {
	rc, err := openMember(r, m)
	if err != nil {
		return Control{}, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return Control{}, fmt.Errorf("%s has no control file: %w", m.name, ErrMissingMember)
		}
		if err != nil {
			return Control{}, memberError(m.name, err)
		}
		if path.Clean(strings.TrimPrefix(h.Name, "./")) != "control" || h.Typeflag != tar.TypeReg {
			continue
		}
		c, err := ParseControl(io.LimitReader(tr, 1<<20))
		if err != nil {
			return Control{}, fmt.Errorf("%s: control: %w", m.name, err)
		}
		return c, nil
	}
}

type compression int

const (
	compressionNone compression = iota
	compressionXz
	compressionZstd
	compressionGzip
)

func compressionOf(member string) (compression, error) {
	_, ext, _ := strings.Cut(member, ".tar")
	switch ext {
	case "":
		return compressionNone, nil
	case ".xz":
		return compressionXz, nil
	case ".zst":
		return compressionZstd, nil
	case ".gz":
		return compressionGzip, nil
	default:
		return 0, fmt.Errorf("member %q: %w %q (want .xz, .zst, .gz or none)", member, ErrUnknownCompression, strings.TrimPrefix(ext, "."))
	}
}

// openMember returns the decompressed content of an ar member.
func openMember(r io.ReaderAt, m arMember) (io.ReadCloser, error) {
	c, err := compressionOf(m.name)
	if err != nil {
		return nil, err
	}
	// Buffer the section: decompressors read in small pieces, and each
	// read of an *os.File section is a pread syscall.
	raw := bufio.NewReaderSize(io.NewSectionReader(r, m.offset, m.size), 256<<10)
	var rc io.ReadCloser
	switch c {
	case compressionNone:
		rc = io.NopCloser(raw)
	case compressionXz:
		xr, err := xz.NewReader(raw)
		if err != nil {
			return nil, memberError(m.name, err)
		}
		rc = io.NopCloser(xr)
	case compressionZstd:
		zr, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, memberError(m.name, err)
		}
		rc = zr.IOReadCloser()
	case compressionGzip:
		gr, err := gzip.NewReader(raw)
		if err != nil {
			return nil, memberError(m.name, err)
		}
		rc = gr
	}
	return &memberReader{ReadCloser: rc, name: m.name}, nil
}

// memberReader names the member in read errors, so that a corrupt
// data.tar.xz says so instead of reporting a bare decompressor error.
type memberReader struct {
	io.ReadCloser
	name string
}

func (r *memberReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = memberError(r.name, err)
	}
	return n, err
}

func memberError(name string, err error) error {
	if errors.Is(err, ErrTruncated) || errors.Is(err, ErrMalformed) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("member %q ends early: %w", name, ErrTruncated)
	}
	return fmt.Errorf("member %q: %w: %w", name, ErrMalformed, err)
}
