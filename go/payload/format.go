package payload

// Format is the carrier a [Set]'s payloads were found in.
type Format int

const (
	// NoFormat: the file carries no payloads.
	NoFormat Format = iota
	// ELF: sections ".actiond.<name>".
	ELF
	// MachO: sections "__<name>" in segment "__ACTIOND".
	MachO
	// Trailer: blobs, manifest and footer appended to the file.
	Trailer
)

// String returns a short name of f for messages and `version` output.
func (f Format) String() string {
	switch f {
	case ELF:
		return "ELF sections"
	case MachO:
		return "Mach-O sections"
	case Trailer:
		return "trailer"
	}
	return "none"
}
