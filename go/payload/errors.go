package payload

import "errors"

var (
	// ErrCorrupt is wrapped by every error about a malformed carrier or
	// blob: offsets outside the file, overlaps, bad magic, bad names.
	ErrCorrupt = errors.New("corrupt payload data")
	// ErrUnsupportedVersion is wrapped when a header, manifest or footer
	// has a format version this package does not know.
	ErrUnsupportedVersion = errors.New("unsupported payload format version")
	// ErrHashMismatch is wrapped when extracted or verified content does
	// not have the SHA-256 its header records.
	ErrHashMismatch = errors.New("sha256 mismatch")
	// ErrNotEmbedded is matched (errors.Is) by the error of
	// [Set.Require] for a payload the executable does not carry.
	ErrNotEmbedded = errors.New("payload not embedded")
	// ErrHasPayloads is wrapped when a builder is given an executable
	// that already carries payloads.
	ErrHasPayloads = errors.New("executable already carries payloads")
)
