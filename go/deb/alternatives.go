package deb

import (
	"strings"
)

// Alternatives is one comma-separated element of a relationship field:
// relations joined by "|", any one of which satisfies it.
type Alternatives []Relation

// String joins the alternatives with " | ".
func (a Alternatives) String() string {
	parts := make([]string, len(a))
	for i, r := range a {
		parts[i] = r.String()
	}
	return strings.Join(parts, " | ")
}
