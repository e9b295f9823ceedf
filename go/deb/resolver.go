package deb

import (
	"fmt"
	"sort"
	"strings"
)

// node is a chosen package and the package that first pulled it in.
type node struct {
	entry    *IndexEntry
	parent   *node
	excluded bool
}

type provider struct {
	entry *IndexEntry
	// provides is the entry's Provides relation for the name.
	provides Relation
}

type resolver struct {
	opts      ResolveOptions
	real      map[string][]*IndexEntry
	providers map[string][]provider
	chosen    map[string]*node // by name:arch
	queue     []*node
}

func newResolver(indexes []*Index, opts ResolveOptions) *resolver {
	r := &resolver{
		opts:      opts,
		real:      map[string][]*IndexEntry{},
		providers: map[string][]provider{},
		chosen:    map[string]*node{},
	}
	for _, idx := range indexes {
		for _, e := range idx.Entries {
			r.real[e.Name] = append(r.real[e.Name], e)
			for _, p := range e.Provides {
				r.providers[p.Name] = append(r.providers[p.Name], provider{entry: e, provides: p})
			}
		}
	}
	return r
}

func key(e *IndexEntry) string { return e.Name + ":" + e.Architecture }

// effectiveArch is the architecture a package counts as: "all" is the
// target's.
func (r *resolver) effectiveArch(e *IndexEntry) string {
	if e.Architecture == "all" {
		return r.opts.Arch
	}
	return e.Architecture
}

// archOK reports whether e's architecture meets rel from a package of
// architecture from, and whether it is e's own architecture (preferred).
func (r *resolver) archOK(e *IndexEntry, rel Relation, from string) (ok, native bool) {
	arch := r.effectiveArch(e)
	switch rel.ArchQual {
	case "":
		return arch == from || e.MultiArch == "foreign", arch == from
	case "any":
		return e.MultiArch == "allowed" || e.MultiArch == "foreign", arch == from
	case "native":
		return arch == r.opts.Arch, true
	default:
		return arch == rel.ArchQual, true
	}
}

type candidate struct {
	entry    *IndexEntry
	real     bool
	native   bool
	position int
}

// candidates lists the packages that meet rel from a package of
// architecture from, best first; why explains the ones that do not.
func (r *resolver) candidates(rel Relation, from string) (out []candidate, why []string) {
	pos := 0
	for _, e := range r.real[rel.Name] {
		pos++
		ok, native := r.archOK(e, rel, from)
		switch {
		case !ok && rel.ArchQual == "any":
			why = append(why, fmt.Sprintf("%s %s is %s and not Multi-Arch: allowed", e.Name, e.Version, e.Architecture))
		case !ok:
			why = append(why, fmt.Sprintf("%s %s is %s", e.Name, e.Version, e.Architecture))
		case !rel.SatisfiedBy(e.Version):
			why = append(why, fmt.Sprintf("%s %s does not satisfy %s %s", e.Name, e.Version, rel.Op, rel.Version))
		default:
			out = append(out, candidate{entry: e, real: true, native: native, position: pos})
		}
	}
	for _, p := range r.providers[rel.Name] {
		pos++
		ok, native := r.archOK(p.entry, rel, from)
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("%s provides it but is %s", p.entry.Name, p.entry.Architecture))
		case rel.Op != OpNone && p.provides.Op == OpNone:
			why = append(why, fmt.Sprintf("%s provides it without a version", p.entry.Name))
		case rel.Op != OpNone && !rel.SatisfiedBy(p.provides.Version):
			why = append(why, fmt.Sprintf("%s provides %s", p.entry.Name, p.provides))
		default:
			out = append(out, candidate{entry: p.entry, native: native, position: pos})
		}
	}
	if len(why) == 0 && len(out) == 0 {
		why = append(why, rel.Name+" is not in the index")
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.real != b.real {
			return a.real
		}
		if a.native != b.native {
			return a.native
		}
		if a.real {
			if c := a.entry.Version.Compare(b.entry.Version); c != 0 {
				return c > 0
			}
			return a.position < b.position
		}
		if a.entry.Essential != b.entry.Essential {
			return a.entry.Essential
		}
		if pa, pb := priorityRank(a.entry.Priority), priorityRank(b.entry.Priority); pa != pb {
			return pa < pb
		}
		if a.entry.Name != b.entry.Name {
			return a.entry.Name < b.entry.Name
		}
		return a.position < b.position
	})
	return out, why
}

func priorityRank(p string) int {
	switch strings.ToLower(p) {
	case "required":
		return 0
	case "important":
		return 1
	case "standard":
		return 2
	case "optional":
		return 3
	case "extra":
		return 4
	}
	return 5
}

// satisfy meets one comma-separated dependency of parent (nil for a root),
// whose architecture is from.
func (r *resolver) satisfy(parent *node, from string, alts Alternatives, root bool) error {
	var applicable Alternatives
	for _, rel := range alts {
		if rel.AppliesTo(from) {
			applicable = append(applicable, rel)
		}
	}
	if len(applicable) == 0 {
		return nil
	}
	var reasons []string
	perAlt := make([][]candidate, len(applicable))
	for i, rel := range applicable {
		cands, why := r.candidates(rel, from)
		perAlt[i] = nil
		for _, c := range cands {
			n := r.chosen[key(c.entry)]
			switch {
			case n == nil:
				perAlt[i] = append(perAlt[i], c)
			case n.entry == c.entry:
				if root && n.excluded {
					// A root names a package a dependency left out.
					n.excluded = false
					r.queue = append(r.queue, n)
				}
				return nil
			default:
				why = append(why, fmt.Sprintf("%s %s would, but %s was chosen for %s", c.entry.Name, c.entry.Version, n.entry.Version, chain(n)))
			}
		}
		reasons = append(reasons, why...)
	}
	for _, cands := range perAlt {
		if len(cands) == 0 {
			continue
		}
		e := cands[0].entry
		n := &node{entry: e, parent: parent}
		if !root && !r.opts.IncludeEssential && (e.Essential || strings.EqualFold(e.Priority, "required")) {
			n.excluded = true
		} else {
			r.queue = append(r.queue, n)
		}
		r.chosen[key(e)] = n
		return nil
	}
	what := alts.String()
	if parent != nil {
		what = chain(parent) + " -> " + what
	}
	return fmt.Errorf("%s: no candidate in the index (%s): %w", what, strings.Join(reasons, "; "), ErrUnsatisfiable)
}

// expand satisfies the Pre-Depends and Depends of a chosen package.
func (r *resolver) expand(n *node) error {
	from := r.effectiveArch(n.entry)
	for _, field := range []struct{ name, value string }{
		{"Pre-Depends", n.entry.PreDepends},
		{"Depends", n.entry.Depends},
	} {
		deps, err := ParseRelations(field.value)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", chain(n), field.name, err)
		}
		for _, alts := range deps {
			if err := r.satisfy(n, from, alts, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// chain names the packages from a root to n: "gcc -> cpp-12 -> libmpc3".
func chain(n *node) string {
	var names []string
	for ; n != nil; n = n.parent {
		names = append(names, n.entry.Name)
	}
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	return strings.Join(names, " -> ")
}
