package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Interval is the least time between two progress lines, and between the
// start and the first one: a person reads at most a few updates a second,
// and work that ends sooner shows only its final line.
const Interval = 100 * time.Millisecond

// Options describes a task. Set Bytes, Items or both; the line shows the
// figures whose total is set.
type Options struct {
	// Label names the work, as in "downloading .debs".
	Label string
	// Bytes is the total size, shown as "42% of 310 MiB".
	Bytes int64
	// Items is the total count, shown as "12 of 40 packages".
	Items int64
	// Noun is the plural name of the items, such as "packages" or
	// "entries"; a count of one takes the singular ("package", "entry").
	Noun string
}

// Reporter prints the progress of one task. It is safe for concurrent use:
// several goroutines may count towards the same task.
type Reporter struct {
	w   io.Writer
	o   Options
	now func() time.Time

	mu       sync.Mutex
	start    time.Time
	last     time.Time // of the last line printed, or start
	bytes    int64
	items    int64
	advanced bool
	width    int // of the line on screen, to blank a longer one
	finished bool
}

// New returns a Reporter printing to w, which should come from Terminal;
// with a nil w it prints nothing. The task's clock starts now.
func New(w io.Writer, o Options) *Reporter {
	return newReporter(w, o, time.Now)
}

func newReporter(w io.Writer, o Options, now func() time.Time) *Reporter {
	r := &Reporter{w: w, o: o, now: now}
	if w != nil {
		r.start = now()
		r.last = r.start
	}
	return r
}

// AddBytes counts n more bytes done.
func (r *Reporter) AddBytes(n int64) { r.update(func() { r.bytes += n }) }

// SetBytes sets the bytes done so far.
func (r *Reporter) SetBytes(n int64) { r.update(func() { r.bytes = n }) }

// AddItems counts n more items done.
func (r *Reporter) AddItems(n int64) { r.update(func() { r.items += n }) }

// SetItems sets the items done so far.
func (r *Reporter) SetItems(n int64) { r.update(func() { r.items = n }) }

// Tick shows the time spent so far, for work with nothing to count (a
// line without figures shows the elapsed time).
func (r *Reporter) Tick() { r.update(func() {}) }

// Ticking calls Tick every Interval until the returned stop is called, for
// work whose only progress is time passing, such as a VM booting.
func (r *Reporter) Ticking() (stop func()) {
	if r == nil || r.w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.Tick()
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// BytesFunc returns the func(done, total int64) callback that leaf
// packages take, counting bytes: it sets the bytes done and their total.
func (r *Reporter) BytesFunc() func(done, total int64) {
	return func(done, total int64) { r.update(func() { r.bytes, r.o.Bytes = done, total }) }
}

// ItemsFunc is BytesFunc for items.
func (r *Reporter) ItemsFunc() func(done, total int64) {
	return func(done, total int64) { r.update(func() { r.items, r.o.Items = done, total }) }
}

func (r *Reporter) update(f func()) {
	if r == nil || r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	f()
	r.advanced = true
	now := r.now()
	if now.Sub(r.last) < Interval {
		return
	}
	r.last = now
	r.print(r.figures(), false)
}

// Finish ends the task: after success (err nil) it prints "LABEL: done in
// 4.2s (FIGURES)", after a failure "LABEL: failed after 4.2s", ending the
// line so that what follows starts on a fresh one. A task that never
// reported any progress (it had nothing to do) prints nothing. Later calls
// do nothing.
func (r *Reporter) Finish(err error) {
	if r == nil || r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	r.finished = true
	if !r.advanced {
		return
	}
	took := FormatDuration(r.now().Sub(r.start))
	if err != nil {
		r.print("failed after "+took, true)
		return
	}
	var totals []string
	if r.o.Bytes > 0 {
		totals = append(totals, FormatBytes(r.o.Bytes))
	}
	if r.o.Items > 0 {
		totals = append(totals, count(r.o.Items, r.o.Noun))
	}
	text := "done in " + took
	if len(totals) > 0 {
		text += " (" + strings.Join(totals, ", ") + ")"
	}
	r.print(text, true)
}

// figures formats the counts: "42% of 310 MiB, 12 of 40 packages", or
// with none, the time elapsed: "1.2s".
func (r *Reporter) figures() string {
	var parts []string
	switch {
	case r.o.Bytes > 0:
		pct := min(max(r.bytes*100/r.o.Bytes, 0), 100)
		parts = append(parts, fmt.Sprintf("%d%% of %s", pct, FormatBytes(r.o.Bytes)))
	case r.bytes > 0:
		parts = append(parts, FormatBytes(r.bytes))
	}
	switch {
	case r.o.Items > 0:
		parts = append(parts, fmt.Sprintf("%d of %s", min(r.items, r.o.Items), count(r.o.Items, r.o.Noun)))
	case r.items > 0:
		parts = append(parts, count(r.items, r.o.Noun))
	}
	if len(parts) == 0 {
		return FormatDuration(r.now().Sub(r.start))
	}
	return strings.Join(parts, ", ")
}

// count formats n items: "40 packages", "1 package", "1 entry".
func count(n int64, plural string) string {
	if n != 1 {
		return fmt.Sprintf("%d %s", n, plural)
	}
	if s, ok := strings.CutSuffix(plural, "ies"); ok {
		return "1 " + s + "y"
	}
	return "1 " + strings.TrimSuffix(plural, "s")
}

// print rewrites the line on screen in one Write, so that concurrent
// writers never split it; a shorter line is padded over the longer one.
func (r *Reporter) print(text string, final bool) {
	line := r.o.Label + ": " + text
	pad := max(r.width-len(line), 0)
	r.width = len(line)
	out := "\r" + line + strings.Repeat(" ", pad)
	if final {
		out += "\n"
		r.width = 0
	}
	// A terminal that fails a write has nobody to tell.
	_, _ = io.WriteString(r.w, out)
}

// FormatBytes formats n for a person, with a decimal below ten units:
// "512 B", "3.7 MiB", "310 MiB", "1.2 GiB".
func FormatBytes(n int64) string {
	if n < 1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	unit, size := "KiB", float64(n)/(1<<10)
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if size < 1<<10 {
			break
		}
		unit, size = u, size/(1<<10)
	}
	if size < 10 {
		return fmt.Sprintf("%.1f %s", size, unit)
	}
	return fmt.Sprintf("%d %s", int64(size), unit)
}

// FormatDuration formats d for a person: "0.3s", "4.2s", "1m3s".
func FormatDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
