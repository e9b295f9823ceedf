package doctor

import "strings"

// Verdict says whether one mode can work on the host.
type Verdict struct {
	Mode  string
	Works bool
	// Blockers are the missing checks that keep the mode from working,
	// Degraders those it works without.
	Blockers, Degraders []Check
}

// String is the verdict's line: "serve: works", "serve: works, but …" or
// "serve-vm: cannot work: missing …".
func (v Verdict) String() string {
	if !v.Works {
		return v.Mode + ": cannot work: missing " + names(v.Blockers)
	}
	if len(v.Degraders) == 0 {
		return v.Mode + ": works"
	}
	var lost []string
	for _, c := range v.Degraders {
		lost = append(lost, oneLine(c.Without))
	}
	return v.Mode + ": works, but " + strings.Join(lost, "; ")
}

func names(cs []Check) string {
	n := make([]string, len(cs))
	for i, c := range cs {
		n[i] = c.Name
	}
	return strings.Join(n, ", ")
}
