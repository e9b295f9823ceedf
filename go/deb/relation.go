package deb

import (
	"fmt"
	"strings"
)

// Relation is one package in a relationship field (Depends, Pre-Depends,
// Provides): a name, an optional architecture qualifier, an optional
// version relation and an optional architecture restriction list.
type Relation struct {
	Name string
	// ArchQual is what follows "name:": "" (none), "any", "native" or an
	// architecture name.
	ArchQual string
	// Op is OpNone when the relation has no version.
	Op      Op
	Version Version
	// Arches is the restriction list "[amd64 !i386]" as written; empty
	// means every architecture. Build profiles ("<!nocheck>") are not kept:
	// they mean nothing for binary packages.
	Arches []string
}

// String formats r the way control files write it, without the
// architecture restriction.
func (r Relation) String() string {
	s := r.Name
	if r.ArchQual != "" {
		s += ":" + r.ArchQual
	}
	if r.Op != OpNone {
		s += " (" + string(r.Op) + " " + r.Version.String() + ")"
	}
	return s
}

// SatisfiedBy reports whether version v meets r's version relation; a
// relation without one is met by every version.
func (r Relation) SatisfiedBy(v Version) bool {
	c := v.Compare(r.Version)
	switch r.Op {
	case OpLess:
		return c < 0
	case OpLessEq:
		return c <= 0
	case OpEq:
		return c == 0
	case OpGreaterEq:
		return c >= 0
	case OpGreater:
		return c > 0
	}
	return true
}

// AppliesTo reports whether r's architecture restriction list admits
// arch. Terms are architecture names, "any", "linux-any" and "any-ARCH"
// (Debian's architecture wildcards for Linux), each negated with "!".
// A list of negated terms admits every architecture none of them names;
// a list of plain terms admits only the ones it names.
func (r Relation) AppliesTo(arch string) bool {
	if len(r.Arches) == 0 {
		return true
	}
	negated := strings.HasPrefix(r.Arches[0], "!")
	for _, term := range r.Arches {
		if archMatches(strings.TrimPrefix(term, "!"), arch) {
			return !negated
		}
	}
	return negated
}

func archMatches(term, arch string) bool {
	return term == arch || term == "any" || term == "linux-any" || term == "any-"+arch
}

// ParseRelations parses a relationship field such as Depends or
// Pre-Depends: comma-separated elements, each a "|"-separated list of
// relations "name[:qual] [(op version)] [[arches]] [<profiles>]". Line
// breaks of folded fields count as spaces. An empty field gives no
// elements.
func ParseRelations(field string) ([]Alternatives, error) {
	var out []Alternatives
	for _, element := range strings.Split(field, ",") {
		if strings.TrimSpace(element) == "" {
			if strings.TrimSpace(field) == "" {
				return nil, nil
			}
			return nil, fmt.Errorf("relations %q: empty element: %w", field, ErrMalformed)
		}
		var alts Alternatives
		for _, part := range strings.Split(element, "|") {
			r, err := ParseRelation(part)
			if err != nil {
				return nil, err
			}
			alts = append(alts, r)
		}
		out = append(out, alts)
	}
	return out, nil
}

// ParseRelation parses one relation (no "," or "|").
func ParseRelation(s string) (Relation, error) {
	var r Relation
	in := strings.TrimSpace(s)
	end := strings.IndexAny(in, " \t\n([<")
	if end < 0 {
		end = len(in)
	}
	name := in[:end]
	rest := in[end:]
	if n, qual, ok := strings.Cut(name, ":"); ok {
		if qual == "" {
			return Relation{}, fmt.Errorf("relation %q: empty architecture qualifier: %w", s, ErrMalformed)
		}
		name, r.ArchQual = n, qual
	}
	if !validPackageName(name) {
		return Relation{}, fmt.Errorf("relation %q: %q is not a package name: %w", s, name, ErrMalformed)
	}
	r.Name = name
	for {
		rest = strings.TrimLeft(rest, " \t\n")
		if rest == "" {
			return r, nil
		}
		var closer byte
		switch rest[0] {
		case '(':
			closer = ')'
		case '[':
			closer = ']'
		case '<':
			closer = '>'
		default:
			return Relation{}, fmt.Errorf("relation %q: unexpected %q: %w", s, rest, ErrMalformed)
		}
		i := strings.IndexByte(rest, closer)
		if i < 0 {
			return Relation{}, fmt.Errorf("relation %q: missing %q: %w", s, closer, ErrMalformed)
		}
		inner := strings.TrimSpace(rest[1:i])
		opener := rest[0]
		rest = rest[i+1:]
		switch opener {
		case '(':
			if r.Op != OpNone {
				return Relation{}, fmt.Errorf("relation %q: two version relations: %w", s, ErrMalformed)
			}
			if err := parseVersionRelation(&r, inner); err != nil {
				return Relation{}, fmt.Errorf("relation %q: %w", s, err)
			}
		case '[':
			r.Arches = strings.Fields(inner)
			if len(r.Arches) == 0 {
				return Relation{}, fmt.Errorf("relation %q: empty architecture list: %w", s, ErrMalformed)
			}
			negated := strings.HasPrefix(r.Arches[0], "!")
			for _, a := range r.Arches {
				if strings.HasPrefix(a, "!") != negated || strings.TrimPrefix(a, "!") == "" {
					return Relation{}, fmt.Errorf("relation %q: architecture list mixes negated and plain terms: %w", s, ErrMalformed)
				}
			}
		case '<':
			// A build profile restriction: meaningless in binary packages.
		}
	}
}

func parseVersionRelation(r *Relation, inner string) error {
	var op Op
	for _, candidate := range []struct {
		text string
		op   Op
	}{
		{"<<", OpLess}, {"<=", OpLessEq}, {">=", OpGreaterEq}, {">>", OpGreater},
		{"=", OpEq}, {"<", OpLessEq}, {">", OpGreaterEq},
	} {
		if strings.HasPrefix(inner, candidate.text) {
			op = candidate.op
			inner = inner[len(candidate.text):]
			break
		}
	}
	if op == OpNone {
		return fmt.Errorf("version relation %q has no operator: %w", inner, ErrMalformed)
	}
	v, err := ParseVersion(inner)
	if err != nil {
		return err
	}
	r.Op, r.Version = op, v
	return nil
}

// validPackageName accepts Debian package names: lower-case letters,
// digits, "+", "-" and ".", starting with a letter or digit. Upper case is
// tolerated, as old indexes have it.
func validPackageName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("+-.", c)) {
			return false
		}
	}
	return true
}
