package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
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
		fields, ok := actionDone(sc.Text())
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
		cols = append(cols, fmt.Sprintf("%.1f / %.1f", percentile(values[k], 50), percentile(values[k], 95)))
	}
	return strings.Join(cols, " | "), nil
}

// actionDone returns the fields of an "action done" record as strings:
// a JSON record of serve, or the guest's text record carried in the "line"
// of a serve-vm JSON record.
func actionDone(line string) (map[string]string, bool) {
	var rec map[string]any
	if json.Unmarshal([]byte(line), &rec) != nil {
		return nil, false
	}
	if rec["msg"] == "action done" {
		out := map[string]string{}
		for k, v := range rec {
			out[k] = fmt.Sprint(v)
		}
		return out, true
	}
	guest, ok := rec["line"].(string)
	if !ok || !strings.Contains(guest, `msg="action done"`) {
		return nil, false
	}
	return logfmt(guest), true
}

// logfmt splits a log/slog text record into its keys and values; quoted
// values are unquoted.
func logfmt(s string) map[string]string {
	out := map[string]string{}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		key, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		var value string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			value, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			value, rest, _ = strings.Cut(rest, " ")
		}
		out[key] = value
		s = rest
	}
	return out
}
