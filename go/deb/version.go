package deb

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Debian package version, [epoch:]upstream[-revision], as
// Debian policy section 5.6.12 defines it.
type Version struct {
	Epoch    int
	Upstream string
	Revision string
}

// ParseVersion parses a Debian version. The epoch, if any, must be a
// decimal number; the revision is everything after the last hyphen. It
// accepts an upstream part that does not start with a digit, as dpkg does
// (with a warning), so that any version found in an index compares.
func ParseVersion(s string) (Version, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Version{}, fmt.Errorf("empty version: %w", ErrMalformed)
	}
	var v Version
	rest := s
	if epoch, after, ok := strings.Cut(s, ":"); ok {
		n, err := strconv.Atoi(epoch)
		if err != nil || n < 0 || epoch == "" || strings.ContainsAny(epoch, "+-") {
			return Version{}, fmt.Errorf("version %q: epoch %q is not a number: %w", s, epoch, ErrMalformed)
		}
		v.Epoch = n
		rest = after
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		v.Upstream, v.Revision = rest[:i], rest[i+1:]
		if v.Revision == "" {
			return Version{}, fmt.Errorf("version %q: empty revision: %w", s, ErrMalformed)
		}
	} else {
		v.Upstream = rest
	}
	if v.Upstream == "" {
		return Version{}, fmt.Errorf("version %q: empty upstream version: %w", s, ErrMalformed)
	}
	for _, c := range rest {
		if !isVersionChar(c) {
			return Version{}, fmt.Errorf("version %q: invalid character %q: %w", s, c, ErrMalformed)
		}
	}
	return v, nil
}

func isVersionChar(c rune) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		strings.ContainsRune(".+~-:", c)
}

// String formats v as Debian writes it; an epoch of 0 is left out.
func (v Version) String() string {
	s := v.Upstream
	if v.Epoch != 0 {
		s = strconv.Itoa(v.Epoch) + ":" + s
	}
	if v.Revision != "" {
		s += "-" + v.Revision
	}
	return s
}

// Compare returns -1, 0 or +1 as v sorts before, equal to or after w, by
// dpkg's rules: epochs numerically, then the upstream versions and the
// revisions alternating non-digit runs (letters before other characters,
// "~" before everything, even the end) and numeric runs. A missing revision
// equals "0".
func (v Version) Compare(w Version) int {
	switch {
	case v.Epoch < w.Epoch:
		return -1
	case v.Epoch > w.Epoch:
		return 1
	}
	if c := compareVersionPart(v.Upstream, w.Upstream); c != 0 {
		return c
	}
	return compareVersionPart(v.Revision, w.Revision)
}

// CompareVersions parses a and b and compares them like Version.Compare.
func CompareVersions(a, b string) (int, error) {
	va, err := ParseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := ParseVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

// versionOrder is dpkg's order of a character in a non-digit run; 0 stands
// for the end of the run.
func versionOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	default:
		return int(c) + 256
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// compareVersionPart is dpkg's verrevcmp.
func compareVersionPart(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isDigit(a[i]) || j < len(b) && !isDigit(b[j]) {
			oa, ob := versionOrder(a, i), versionOrder(b, j)
			if oa != ob {
				return sign(oa - ob)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
