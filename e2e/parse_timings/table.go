package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/actiond/actiond/e2e/actionlog"
)

// stages are the reported fields of an "action done" record, in table
// order, with what each measures.
var stages = []struct{ field, label string }{
	{"queue_ms", "queue"},
	{"input_ms", "input"},
	{"setup_ms", "setup"},
	{"spawn_ms", "spawn"},
	{"run_ms", "run"},
	{"teardown_ms", "teardown"},
	{"output_ms", "output"},
	{"total_ms", "total"},
}

// overheadLabel names the derived row total − queue − spawn − run: the
// daemon's own share of an action once it has a slot, what a local strategy
// does not pay (waiting for a slot, queue, any strategy pays).
const overheadLabel = "overhead (total − queue − spawn − run)"

// table renders the stage statistics of recs in Markdown. A stage no
// record carries (an older daemon's log) is left out rather than shown as
// zeros.
func table(recs []actionlog.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| stage (ms) | count | min | p50 | p95 | mean | max |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|\n")
	row := func(label string, xs []float64) {
		if len(xs) == 0 {
			return
		}
		s := slices.Clone(xs)
		slices.Sort(s)
		sum := 0.0
		for _, x := range s {
			sum += x
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", label, len(s),
			s[0], actionlog.Percentile(s, 50), actionlog.Percentile(s, 95), sum/float64(len(s)), s[len(s)-1])
	}
	for _, st := range stages {
		row(st.label, values(recs, st.field))
	}
	var over []float64
	for _, r := range recs {
		t, ok1 := number(r, "total_ms")
		q, ok2 := number(r, "queue_ms")
		sp, ok3 := number(r, "spawn_ms")
		run, ok4 := number(r, "run_ms")
		if ok1 && ok2 && ok3 && ok4 {
			over = append(over, t-q-sp-run)
		}
	}
	row(overheadLabel, over)
	return b.String()
}

// values returns the numeric values of field over recs.
func values(recs []actionlog.Record, field string) []float64 {
	var out []float64
	for _, r := range recs {
		if v, ok := number(r, field); ok {
			out = append(out, v)
		}
	}
	return out
}

func number(r actionlog.Record, field string) (float64, bool) {
	s, ok := r[field]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}
