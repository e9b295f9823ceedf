package deb

import "errors"

// Sentinel errors. Every error this package returns for malformed or
// hostile input wraps one of them, with the member or entry name added.
var (
	// ErrNotAr means the input does not start with the ar magic "!<arch>\n".
	ErrNotAr = errors.New("not an ar archive")
	// ErrTruncated means the input ends before a header or member it
	// announces.
	ErrTruncated = errors.New("truncated archive")
	// ErrMalformed means a header, control file or index is syntactically
	// wrong.
	ErrMalformed = errors.New("malformed package")
	// ErrMissingMember means a required member (debian-binary,
	// control.tar*, data.tar*) or the control file is absent.
	ErrMissingMember = errors.New("missing member")
	// ErrUnsupportedFormat means the debian-binary version is not 2.x.
	ErrUnsupportedFormat = errors.New("unsupported package format")
	// ErrUnknownCompression means a tar member uses a compression this
	// package does not read (anything but xz, zstd, gzip or none).
	ErrUnknownCompression = errors.New("unknown compression")
	// ErrUnsafePath means an entry name or link target would leave the
	// tree root (absolute names, ".." components, escaping symlinks).
	ErrUnsafePath = errors.New("path escapes the root")
	// ErrDuplicatePath means two packages provide the same path with
	// different content.
	ErrDuplicatePath = errors.New("duplicate path")
	// ErrUnsupportedEntry means a tar entry type that has no place in a
	// runtime tree (devices, fifos).
	ErrUnsupportedEntry = errors.New("unsupported tar entry")
	// ErrTooManyEntries means a data.tar holds more entries than a
	// runtime tree may (MaxEntries).
	ErrTooManyEntries = errors.New("too many entries")
	// ErrUnsatisfiable means a dependency has no package in the indexes
	// that meets it. The error text names the chain of packages that led
	// to it.
	ErrUnsatisfiable = errors.New("unsatisfiable dependency")
	// ErrHashMismatch means a downloaded file's size or sha256 is not the
	// one the lock pins.
	ErrHashMismatch = errors.New("hash mismatch")
)
