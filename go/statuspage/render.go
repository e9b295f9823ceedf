package statuspage

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/progress"
)

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"ms":      formatMillis,
	"dur":     formatDuration,
	"bytes":   progress.FormatBytes,
	"clock":   func(t time.Time) string { return t.Local().Format("15:04:05") },
	"short":   shortDigest,
	"percent": percent,
	"program": program,
}).Parse(pageSource))

// pageData is what the template sees.
type pageData struct {
	activity.Snapshot
	Running, Queued int
	Refresh         int
}

// renderHTML writes the status page for snap.
func renderHTML(w io.Writer, snap activity.Snapshot) error {
	d := pageData{Snapshot: snap, Refresh: 2}
	for _, a := range snap.Active {
		if a.State == "running" {
			d.Running++
		} else {
			d.Queued++
		}
	}
	return pageTemplate.Execute(w, d)
}

func formatMillis(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// formatDuration is d for a person: 850ms, 12.3s, 4m05s, 2h03m.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// shortDigest is the first 12 hex digits of "hash/size".
func shortDigest(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func percent(n, of int64) float64 {
	if of <= 0 {
		return 0
	}
	return min(100, 100*float64(n)/float64(of))
}

// program is what to call an action: its mnemonic when the client sent
// one, else its program's base name.
func program(a activity.Action) string {
	if a.Mnemonic != "" {
		return a.Mnemonic
	}
	if a.Argv0 == "" {
		return "?"
	}
	return a.Argv0[strings.LastIndexByte(a.Argv0, '/')+1:]
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
