package payload

import (
	"cmp"
	"fmt"
	"slices"
)

// Source is a payload to embed: its name and the file holding its content.
type Source struct {
	Name string
	Path string
}

// sortedSources checks the sources and returns them sorted by name, the
// order they are written in whatever order they were given.
func sortedSources(srcs []Source) ([]Source, error) {
	if len(srcs) == 0 {
		return nil, fmt.Errorf("no payloads given")
	}
	if len(srcs) > maxManifestEntries {
		return nil, fmt.Errorf("%d payloads given, at most %d fit", len(srcs), maxManifestEntries)
	}
	sorted := slices.Clone(srcs)
	slices.SortFunc(sorted, func(a, b Source) int { return cmp.Compare(a.Name, b.Name) })
	for i, s := range sorted {
		if err := ValidateName(s.Name); err != nil {
			return nil, err
		}
		if i > 0 && sorted[i-1].Name == s.Name {
			return nil, fmt.Errorf("payload %s given twice", s.Name)
		}
	}
	return sorted, nil
}
