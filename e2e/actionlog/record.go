// Package actionlog reads the daemon's per-action "action done" log records,
// from `linux_actiond serve` (JSON) and from `serve-vm` (the guest's
// log/slog text record in the "line" field of the host's JSON record), for
// the e2e benchmark tools.
package actionlog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Record is one "action done" line: its fields as strings, numbers in
// their decimal form.
type Record map[string]string

// Read returns the "action done" records of a log, without cache
// hits unless all is set.
func Read(r io.Reader, all bool) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	// Lines carrying a guest's error message can be long.
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		rec, ok := ParseLine(sc.Text())
		if !ok || (!all && rec["cached"] == "true") {
			continue
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// ParseLine returns the fields of an "action done" line: a JSON record of
// serve, or the guest's log/slog text record in the "line" field of a
// serve-vm JSON record.
func ParseLine(line string) (Record, bool) {
	var rec map[string]any
	if json.Unmarshal([]byte(line), &rec) != nil {
		return nil, false
	}
	if rec["msg"] == "action done" {
		out := Record{}
		for k, v := range rec {
			if f, ok := v.(float64); ok {
				out[k] = strconv.FormatFloat(f, 'f', -1, 64)
			} else {
				out[k] = fmt.Sprint(v)
			}
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
func logfmt(s string) Record {
	out := Record{}
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
