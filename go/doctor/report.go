package doctor

import (
	"fmt"
	"io"
	"strings"
)

// Exit statuses of ExitCode: the commands document them.
const (
	// ExitAllWork: every mode of the report can work (maybe degraded).
	ExitAllWork = 0
	// ExitMainOnly: the first mode can work, another cannot.
	ExitMainOnly = 1
	// ExitMainFails: the first mode cannot work. (2 is left to usage
	// errors, as for the other commands.)
	ExitMainFails = 3
)

// Report is the checks of one host and the modes they are judged for.
type Report struct {
	// Modes are the commands judged, the main one first ("serve",
	// "serve-vm" on Linux; "serve-vm" alone on macOS).
	Modes  []string
	Checks []Check
}

// Verdict judges mode: it works unless a missing check blocks it.
func (r Report) Verdict(mode string) Verdict {
	v := Verdict{Mode: mode, Works: true}
	for _, c := range r.Checks {
		switch c.costs(mode) {
		case Blocks:
			v.Works = false
			v.Blockers = append(v.Blockers, c)
		case Degrades:
			v.Degraders = append(v.Degraders, c)
		}
	}
	return v
}

// ExitCode is the exit status for the report: ExitAllWork, ExitMainOnly or
// ExitMainFails.
func (r Report) ExitCode() int {
	for i, m := range r.Modes {
		if !r.Verdict(m).Works {
			if i == 0 {
				return ExitMainFails
			}
			return ExitMainOnly
		}
	}
	return ExitAllWork
}

// Write prints one line per check (with a fix line under each missing
// one), then one verdict line per mode.
func (r Report) Write(w io.Writer) error {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%-8s %-*s  %s\n", c.State, width, c.Name, oneLine(c.Detail))
		if c.State == Missing && c.Fix != "" {
			fmt.Fprintf(&b, "%-8s %-*s  fix: %s\n", "", width, "", oneLine(c.Fix))
		}
	}
	b.WriteString("\n")
	for _, m := range r.Modes {
		fmt.Fprintf(&b, "%s\n", r.Verdict(m))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine joins the lines of s (a tool's stderr in a detail) with "; ".
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}
