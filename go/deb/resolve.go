package deb

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Resolve computes the dependency closure of roots over Depends and
// Pre-Depends (Recommends, Suggests, Conflicts and Breaks are not read).
// A root is "name", "name:arch", "name=version" or "name:arch=version".
//
// The choice is deterministic and independent of the order of roots: the
// roots are resolved in sorted order first, then the dependencies of each
// chosen package breadth first. For each comma-separated dependency the
// first alternative that a package already chosen satisfies wins; failing
// that, the first alternative that has a candidate. Among the candidates of
// one relation, a real package comes before a package that Provides the
// name, then one of the depending package's own architecture (or "all")
// before a Multi-Arch: foreign one of another, then the highest version,
// then the earlier index. Among providers the Essential ones come first,
// then by Priority (required, important, standard, optional, extra), then
// by name. One version of each name and architecture is chosen; a later
// relation that this version does not satisfy is an error.
//
// Essential and Priority: required packages are part of every Debian
// system, so a dependency on one counts as met (its version relation is
// still checked) without adding it or its dependencies to the closure:
// they go to Resolution.Excluded. A root is always added, whatever it is,
// and with IncludeEssential every package reached is. Dependency cycles are
// fine: each package is visited once.
//
// Multi-Arch decides which architecture meets a relation from a package of
// architecture A: an unqualified relation wants A (or all), or any
// architecture from a Multi-Arch: foreign package; "name:any" wants a
// Multi-Arch: allowed (or foreign) package of any architecture, as apt
// does, so a plain package does not meet it; "name:native" wants
// the target architecture; "name:ARCH" wants ARCH. Relations whose
// "[arch]" restriction excludes A are dropped.
func Resolve(indexes []*Index, roots []string, opts ResolveOptions) (*Resolution, error) {
	if opts.Arch == "" {
		return nil, errors.New("no target architecture")
	}
	if len(roots) == 0 {
		return nil, errors.New("no packages to resolve")
	}
	r := newResolver(indexes, opts)
	sorted := append([]string(nil), roots...)
	sort.Strings(sorted)
	for _, root := range sorted {
		rel, err := parseRoot(root)
		if err != nil {
			return nil, err
		}
		if err := r.satisfy(nil, opts.Arch, Alternatives{rel}, true); err != nil {
			return nil, err
		}
	}
	for len(r.queue) > 0 {
		n := r.queue[0]
		r.queue = r.queue[1:]
		if err := r.expand(n); err != nil {
			return nil, err
		}
	}
	res := &Resolution{}
	for _, n := range r.chosen {
		if n.excluded {
			res.Excluded = append(res.Excluded, n.entry)
		} else {
			res.Packages = append(res.Packages, n.entry)
		}
	}
	sortEntries(res.Packages)
	sortEntries(res.Excluded)
	return res, nil
}

func sortEntries(es []*IndexEntry) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Name != es[j].Name {
			return es[i].Name < es[j].Name
		}
		return es[i].Architecture < es[j].Architecture
	})
}

// parseRoot turns "name[:arch][=version]" into a relation.
func parseRoot(root string) (Relation, error) {
	spec, version, hasVersion := strings.Cut(root, "=")
	rel, err := ParseRelation(spec)
	if err != nil || strings.ContainsAny(spec, " \t([<") {
		return Relation{}, fmt.Errorf("package %q: want name, name:arch, name=version or name:arch=version", root)
	}
	if hasVersion {
		v, err := ParseVersion(version)
		if err != nil {
			return Relation{}, fmt.Errorf("package %q: %w", root, err)
		}
		rel.Op, rel.Version = OpEq, v
	}
	return rel, nil
}
