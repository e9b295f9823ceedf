package payload

import "fmt"

// Compression is how a payload's data is stored.
type Compression uint16

const (
	// None stores the content as it is.
	None Compression = 0
	// Zstd stores the content as zstd frames, inflated on extraction.
	Zstd Compression = 1
)

// String returns "none" or "zstd", the names [ParseCompression] accepts.
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", uint16(c))
}

// ParseCompression returns the Compression called s ("none" or "zstd").
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "none":
		return None, nil
	case "zstd":
		return Zstd, nil
	}
	return 0, fmt.Errorf("unknown compression %q (want zstd or none)", s)
}
