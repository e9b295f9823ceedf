package doctor

import (
	"strings"
	"testing"
)

// fake checks for two modes, "a" (the main one) and "b".
var (
	okA      = Check{Name: "alpha", Detail: "found alpha", Impact: map[string]Impact{"a": Blocks}}
	blocksA  = Check{Name: "alpha", State: Missing, Detail: "no alpha", Fix: "install alpha", Impact: map[string]Impact{"a": Blocks}}
	blocksB  = Check{Name: "beta", State: Missing, Detail: "no beta", Fix: "install beta", Impact: map[string]Impact{"b": Blocks}}
	degrades = Check{Name: "gamma", State: Missing, Detail: "no gamma\nsecond line", Fix: "load gamma",
		Impact: map[string]Impact{"a": Degrades, "b": Degrades}, Without: "gamma limits are not enforced"}
	skippedB = Check{Name: "delta", State: Skipped, Detail: "nothing to try delta with", Impact: map[string]Impact{"b": Blocks}}
	harmless = Check{Name: "epsilon", State: Missing, Detail: "no epsilon", Fix: "get epsilon"}
)

func TestReport(t *testing.T) {
	tests := []struct {
		name     string
		checks   []Check
		wantCode int // as documented: 0 all work, 1 main only, 3 main fails
		// wantLines must each be a line of the output, in this order.
		wantLines []string
	}{
		{
			name:     "all ok",
			checks:   []Check{okA},
			wantCode: 0,
			wantLines: []string{
				"ok       alpha  found alpha",
				"",
				"a: works",
				"b: works",
			},
		},
		{
			name:     "main mode blocked",
			checks:   []Check{blocksA, okA},
			wantCode: 3,
			wantLines: []string{
				"MISSING  alpha  no alpha",
				"                fix: install alpha",
				"ok       alpha  found alpha",
				"a: cannot work: missing alpha",
				"b: works",
			},
		},
		{
			name:     "second mode blocked",
			checks:   []Check{okA, blocksB},
			wantCode: 1,
			wantLines: []string{
				"MISSING  beta   no beta",
				"                fix: install beta",
				"a: works",
				"b: cannot work: missing beta",
			},
		},
		{
			name:     "both blocked is the main mode's failure",
			checks:   []Check{blocksB, blocksA},
			wantCode: 3,
			wantLines: []string{
				"a: cannot work: missing alpha",
				"b: cannot work: missing beta",
			},
		},
		{
			name:     "degraded modes still work, detail on one line",
			checks:   []Check{degrades},
			wantCode: 0,
			wantLines: []string{
				"MISSING  gamma  no gamma; second line",
				"                fix: load gamma",
				"a: works, but gamma limits are not enforced",
				"b: works, but gamma limits are not enforced",
			},
		},
		{
			name:     "blockers win over degraders",
			checks:   []Check{degrades, blocksB},
			wantCode: 1,
			wantLines: []string{
				"a: works, but gamma limits are not enforced",
				"b: cannot work: missing beta",
			},
		},
		{
			name:     "skipped costs nothing",
			checks:   []Check{skippedB},
			wantCode: 0,
			wantLines: []string{
				"skipped  delta  nothing to try delta with",
				"a: works",
				"b: works",
			},
		},
		{
			name:     "missing without impact costs nothing",
			checks:   []Check{harmless},
			wantCode: 0,
			wantLines: []string{
				"MISSING  epsilon  no epsilon",
				"                  fix: get epsilon",
				"a: works",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Report{Modes: []string{"a", "b"}, Checks: tc.checks}
			if got := r.ExitCode(); got != tc.wantCode {
				t.Errorf("ExitCode() = %d, want %d", got, tc.wantCode)
			}
			var b strings.Builder
			if err := r.Write(&b); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(b.String(), "\n")
			i := 0
			for _, want := range tc.wantLines {
				for i < len(lines) && lines[i] != want {
					i++
				}
				if i == len(lines) {
					t.Fatalf("output lacks line %q (in order):\n%s", want, b.String())
				}
				i++
			}
		})
	}
}

func TestReportOneModeExitCodes(t *testing.T) {
	for _, tc := range []struct {
		checks []Check
		want   int
	}{
		{[]Check{okA}, ExitAllWork},
		{[]Check{blocksA}, ExitMainFails},
		{[]Check{blocksB}, ExitAllWork}, // b is not judged
	} {
		r := Report{Modes: []string{"a"}, Checks: tc.checks}
		if got := r.ExitCode(); got != tc.want {
			t.Errorf("ExitCode(%s) = %d, want %d", tc.checks[0].Name, got, tc.want)
		}
	}
}
