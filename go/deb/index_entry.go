package deb

import (
	"fmt"
	"strconv"
	"strings"
)

// IndexEntry is one binary package of a Packages index, with the fields
// dependency resolution and downloading need. Depends and Pre-Depends stay
// unparsed until a resolution reaches the package, so that a malformed
// field in a package nobody asks for does not break the index.
type IndexEntry struct {
	Name         string
	Version      Version
	Architecture string
	// MultiArch is the Multi-Arch field: "", "same", "foreign" or "allowed".
	MultiArch  string
	Essential  bool
	Priority   string
	Depends    string
	PreDepends string
	Provides   []Relation
	// Filename is the path of the .deb relative to the archive root.
	Filename string
	Size     int64
	SHA256   string
	// Index is the index the entry comes from.
	Index *Index
}

func entryFromControl(c Control) (*IndexEntry, error) {
	e := &IndexEntry{}
	var version, size string
	for _, f := range c.Fields {
		switch strings.ToLower(f.Name) {
		case "package":
			e.Name = f.Value
		case "version":
			version = f.Value
		case "architecture":
			e.Architecture = f.Value
		case "multi-arch":
			e.MultiArch = strings.ToLower(f.Value)
		case "essential":
			e.Essential = strings.EqualFold(f.Value, "yes")
		case "priority":
			e.Priority = f.Value
		case "depends":
			e.Depends = f.Value
		case "pre-depends":
			e.PreDepends = f.Value
		case "provides":
			alts, err := ParseRelations(f.Value)
			if err != nil {
				return nil, fmt.Errorf("package %s: Provides: %w", c.Package(), err)
			}
			for _, a := range alts {
				if len(a) != 1 || (a[0].Op != OpNone && a[0].Op != OpEq) {
					return nil, fmt.Errorf("package %s: Provides %q: want names with at most an \"=\" version: %w", c.Package(), a, ErrMalformed)
				}
				e.Provides = append(e.Provides, a[0])
			}
		case "filename":
			e.Filename = f.Value
		case "size":
			size = f.Value
		case "sha256":
			e.SHA256 = f.Value
		}
	}
	switch {
	case e.Name == "":
		return nil, fmt.Errorf("no Package field: %w", ErrMalformed)
	case version == "":
		return nil, fmt.Errorf("package %s: no Version field: %w", e.Name, ErrMalformed)
	case e.Architecture == "":
		return nil, fmt.Errorf("package %s: no Architecture field: %w", e.Name, ErrMalformed)
	}
	v, err := ParseVersion(version)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", e.Name, err)
	}
	e.Version = v
	if size != "" {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("package %s: Size %q is not a byte count: %w", e.Name, size, ErrMalformed)
		}
		e.Size = n
	}
	if e.SHA256 != "" && !isSHA256(e.SHA256) {
		return nil, fmt.Errorf("package %s: SHA256 %q is not 64 hex digits: %w", e.Name, e.SHA256, ErrMalformed)
	}
	return e, nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// String names the entry as name version (arch).
func (e *IndexEntry) String() string {
	return e.Name + " " + e.Version.String() + " (" + e.Architecture + ")"
}
