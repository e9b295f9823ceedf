package deb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// LockVersion is the version of the lock file format Lock reads and writes.
const LockVersion = 1

// Lock pins a package closure: what deb_lock writes and the runtime rules
// download. Its JSON form:
//
//	{
//	  "version": 1,
//	  "arch": "amd64",
//	  "suites": ["bookworm", "bookworm-security"],
//	  "roots": ["gcc"],
//	  "include_essential": false,
//	  "packages": [
//	    {"name": "gcc-12", "version": "12.2.0-14", "arch": "amd64",
//	     "suite": "bookworm", "archive": "http://deb.debian.org/debian",
//	     "filename": "pool/main/g/gcc-12/gcc-12_12.2.0-14_amd64.deb",
//	     "size": 19230392, "sha256": "…"}
//	  ],
//	  "excluded": ["libc6=2.36-9+deb12u14"]
//	}
//
// Packages are sorted by name and architecture, roots and suites by name.
// "archive" and "suite" are empty when the index's file name did not say
// (an index given on the command line); the fetcher then uses the archive
// it is told. "excluded" lists the Essential and required packages that a
// dependency reached and the closure left out.
type Lock struct {
	Version          int             `json:"version"`
	Arch             string          `json:"arch"`
	Suites           []string        `json:"suites"`
	Roots            []string        `json:"roots"`
	IncludeEssential bool            `json:"include_essential"`
	Packages         []LockedPackage `json:"packages"`
	Excluded         []string        `json:"excluded"`
}

// NewLock makes the lock of a resolution. Every package needs Filename,
// Size and SHA256 from its index.
func NewLock(res *Resolution, roots []string, opts ResolveOptions) (*Lock, error) {
	l := &Lock{
		Version:          LockVersion,
		Arch:             opts.Arch,
		Suites:           []string{},
		Roots:            append([]string(nil), roots...),
		IncludeEssential: opts.IncludeEssential,
		Packages:         []LockedPackage{},
		Excluded:         []string{},
	}
	sort.Strings(l.Roots)
	suites := map[string]bool{}
	for _, e := range res.Packages {
		if e.Filename == "" || e.SHA256 == "" || e.Size == 0 {
			return nil, fmt.Errorf("package %s: the index gives no Filename, Size or SHA256", e)
		}
		p := LockedPackage{
			Name:     e.Name,
			Version:  e.Version.String(),
			Arch:     e.Architecture,
			Filename: e.Filename,
			Size:     e.Size,
			SHA256:   e.SHA256,
		}
		if e.Index != nil {
			p.Suite, p.Archive = e.Index.Origin.Suite, e.Index.Origin.Archive
		}
		if p.Suite != "" {
			suites[p.Suite] = true
		}
		l.Packages = append(l.Packages, p)
	}
	for s := range suites {
		l.Suites = append(l.Suites, s)
	}
	sort.Strings(l.Suites)
	for _, e := range res.Excluded {
		l.Excluded = append(l.Excluded, e.Name+"="+e.Version.String())
	}
	sort.Strings(l.Excluded)
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return l, nil
}

// Marshal writes l as indented JSON with a final newline. The same lock
// gives the same bytes.
func (l *Lock) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ReadLock parses and validates a lock file. Unknown fields are errors, so
// a typo does not silently drop a pin.
func ReadLock(r io.Reader) (*Lock, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("lock: %v: %w", err, ErrMalformed)
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &l, nil
}

// Validate checks what a fetcher relies on: the format version, and for
// every package a name, version, architecture, positive size, a sha256 of
// 64 lower-case hex digits and a relative Filename without ".." whose base
// name no other package shares (the fetcher stores files by base name).
func (l *Lock) Validate() error {
	if l.Version != LockVersion {
		return fmt.Errorf("lock: version %d, want %d: %w", l.Version, LockVersion, ErrMalformed)
	}
	if l.Arch == "" {
		return fmt.Errorf("lock: no arch: %w", ErrMalformed)
	}
	bases := map[string]string{}
	for i, p := range l.Packages {
		what := fmt.Sprintf("lock: package %d (%s)", i+1, p.Name)
		switch {
		case p.Name == "" || p.Version == "" || p.Arch == "":
			return fmt.Errorf("%s: name, version and arch are required: %w", what, ErrMalformed)
		case p.Size <= 0:
			return fmt.Errorf("%s: size %d: %w", what, p.Size, ErrMalformed)
		case !isSHA256(p.SHA256):
			return fmt.Errorf("%s: sha256 %q is not 64 lower-case hex digits: %w", what, p.SHA256, ErrMalformed)
		case p.Filename == "" || path.IsAbs(p.Filename) || path.Clean(p.Filename) != p.Filename ||
			p.Filename == ".." || strings.HasPrefix(p.Filename, "../") || !strings.HasSuffix(p.Filename, ".deb"):
			return fmt.Errorf("%s: filename %q is not a clean relative path to a .deb: %w", what, p.Filename, ErrUnsafePath)
		}
		base := path.Base(p.Filename)
		if other, ok := bases[base]; ok {
			return fmt.Errorf("%s: file name %s is also %s's: %w", what, base, other, ErrMalformed)
		}
		bases[base] = p.Name
	}
	return nil
}
