package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/actiond/actiond/e2e/actionlog"
)

// stageFields are the "action done" fields reported, in table order.
var stageFields = []string{"queue_ms", "input_ms", "setup_ms", "spawn_ms", "run_ms", "teardown_ms", "output_ms", "total_ms"}

// stagesRow reads a daemon log and returns the action count and "p50 /
// p95" of each stage field of the actions that ran (not cache hits).
func stagesRow(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	values := map[string][]float64{}
	actions := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields, ok := actionlog.ParseLine(sc.Text())
		if !ok || fields["cached"] == "true" {
			continue
		}
		actions++
		for _, k := range stageFields {
			if v, err := strconv.ParseFloat(fields[k], 64); err == nil {
				values[k] = append(values[k], v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if actions == 0 {
		return "", fmt.Errorf("no \"action done\" records in %s", path)
	}
	cols := []string{strconv.Itoa(actions)}
	for _, k := range stageFields {
		cols = append(cols, fmt.Sprintf("%.1f / %.1f", actionlog.Percentile(values[k], 50), actionlog.Percentile(values[k], 95)))
	}
	return strings.Join(cols, " | "), nil
}
