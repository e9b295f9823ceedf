package progress_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actiond/actiond/go/progress"
)

// clock is a test clock that moves only when told to.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Unix(1000, 0)} }
func lines(out string) []string          { return strings.Split(out, "\r")[1:] }
func trimmed(out string) []string {
	var l []string
	for _, s := range lines(out) {
		final := strings.HasSuffix(s, "\n")
		s = strings.TrimRight(strings.TrimSuffix(s, "\n"), " ")
		if final {
			s += "\n"
		}
		l = append(l, s)
	}
	return l
}

func TestReporterLines(t *testing.T) {
	type step struct {
		after time.Duration // clock advance before the update
		f     func(r *progress.Reporter)
	}
	for _, tc := range []struct {
		name  string
		opts  progress.Options
		steps []step
		err   error
		want  []string
	}{
		{
			name: "Bytes",
			opts: progress.Options{Label: "extracting the embedded runtimes", Bytes: 310 << 20},
			steps: []step{
				{50 * time.Millisecond, func(r *progress.Reporter) { r.SetBytes(10 << 20) }}, // too soon after the start
				{60 * time.Millisecond, func(r *progress.Reporter) { r.SetBytes(130 << 20) }},
				{50 * time.Millisecond, func(r *progress.Reporter) { r.SetBytes(200 << 20) }}, // too soon after the last line
				{60 * time.Millisecond, func(r *progress.Reporter) { r.SetBytes(310 << 20) }},
				{4 * time.Second, nil},
			},
			want: []string{
				"extracting the embedded runtimes: 41% of 310 MiB",
				"extracting the embedded runtimes: 100% of 310 MiB",
				"extracting the embedded runtimes: done in 4.2s (310 MiB)\n",
			},
		},
		{
			name: "Items",
			opts: progress.Options{Label: "building runtime gcc12", Items: 40, Noun: "packages"},
			steps: []step{
				{200 * time.Millisecond, func(r *progress.Reporter) { r.AddItems(12) }},
				{200 * time.Millisecond, func(r *progress.Reporter) { r.AddItems(28) }},
			},
			want: []string{
				"building runtime gcc12: 12 of 40 packages",
				"building runtime gcc12: 40 of 40 packages",
				"building runtime gcc12: done in 0.4s (40 packages)\n",
			},
		},
		{
			name: "BytesAndItems",
			opts: progress.Options{Label: "downloading .debs", Bytes: 4 << 30, Items: 3, Noun: "packages"},
			steps: []step{
				{time.Second, func(r *progress.Reporter) { r.AddBytes(1 << 30); r.AddItems(1) }},
				{time.Minute, func(r *progress.Reporter) { r.AddBytes(3 << 30); r.AddItems(2) }},
			},
			want: []string{
				// Each line shows the counts as of its update: the
				// item that follows its bytes shows on the next line.
				"downloading .debs: 25% of 4.0 GiB, 0 of 3 packages",
				"downloading .debs: 100% of 4.0 GiB, 1 of 3 packages",
				"downloading .debs: done in 1m1s (4.0 GiB, 3 packages)\n",
			},
		},
		{
			name: "NoTotals",
			opts: progress.Options{Label: "unpacking", Noun: "entries"},
			steps: []step{
				{time.Second, func(r *progress.Reporter) { r.AddItems(7) }},
				{time.Second, func(r *progress.Reporter) { r.AddBytes(2048) }},
			},
			want: []string{
				"unpacking: 7 entries",
				"unpacking: 2.0 KiB, 7 entries",
				"unpacking: done in 2.0s\n",
			},
		},
		{
			name: "Callbacks",
			opts: progress.Options{Label: "writing runtime image runtimes.sqfs"},
			steps: []step{
				{time.Second, func(r *progress.Reporter) { r.BytesFunc()(3<<20, 4<<20) }},
				{time.Second, func(r *progress.Reporter) { r.BytesFunc()(4<<20, 4<<20) }},
			},
			want: []string{
				"writing runtime image runtimes.sqfs: 75% of 4.0 MiB",
				"writing runtime image runtimes.sqfs: 100% of 4.0 MiB",
				"writing runtime image runtimes.sqfs: done in 2.0s (4.0 MiB)\n",
			},
		},
		{
			name: "ItemsCallback",
			opts: progress.Options{Label: "unpacking the runtime image", Noun: "entries"},
			steps: []step{
				{time.Second, func(r *progress.Reporter) { r.ItemsFunc()(10, 4000) }},
			},
			want: []string{
				"unpacking the runtime image: 10 of 4000 entries",
				"unpacking the runtime image: done in 1.0s (4000 entries)\n",
			},
		},
		{
			name: "Failure",
			opts: progress.Options{Label: "downloading .debs", Items: 3, Noun: "packages"},
			steps: []step{
				{time.Second, func(r *progress.Reporter) { r.AddItems(1) }},
				{time.Second, nil},
			},
			err: errors.New("no route"),
			want: []string{
				"downloading .debs: 1 of 3 packages",
				"downloading .debs: failed after 2.0s\n",
			},
		},
		{
			name: "FastWorkShowsOnlyTheDoneLine",
			opts: progress.Options{Label: "writing runtimes.sqfs", Bytes: 1 << 20},
			steps: []step{
				{10 * time.Millisecond, func(r *progress.Reporter) { r.SetBytes(1 << 20) }},
			},
			want: []string{"writing runtimes.sqfs: done in 0.0s (1.0 MiB)\n"},
		},
		{
			name: "OneItem",
			opts: progress.Options{Label: "building runtime glibc2.36", Items: 1, Noun: "packages"},
			steps: []step{
				{time.Second, func(r *progress.Reporter) { r.AddItems(1) }},
			},
			want: []string{
				"building runtime glibc2.36: 1 of 1 package",
				"building runtime glibc2.36: done in 1.0s (1 package)\n",
			},
		},
		{
			name: "OneEntry",
			opts: progress.Options{Label: "unpacking", Noun: "entries"},
			steps: []step{
				{time.Second, func(r *progress.Reporter) { r.AddItems(1) }},
			},
			want: []string{"unpacking: 1 entry", "unpacking: done in 1.0s\n"},
		},
		{
			name:  "NothingToDoPrintsNothing",
			opts:  progress.Options{Label: "unpacking the runtime image", Items: 10, Noun: "entries"},
			steps: []step{{time.Second, nil}},
			want:  nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			var buf bytes.Buffer
			r := progress.NewWithClock(&buf, tc.opts, c.now)
			for _, s := range tc.steps {
				c.advance(s.after)
				if s.f != nil {
					s.f(r)
				}
			}
			r.Finish(tc.err)
			r.Finish(nil) // a second Finish prints nothing
			r.AddItems(1) // nor does an update after it
			got := trimmed(buf.String())
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got lines %q, want %q (output %q)", got, tc.want, buf.String())
			}
		})
	}
}

// A line shorter than the one on screen is padded over it.
func TestReporterPadsShorterLines(t *testing.T) {
	c := newClock()
	var buf bytes.Buffer
	r := progress.NewWithClock(&buf, progress.Options{Label: "x", Noun: "entries"}, c.now)
	c.advance(time.Second)
	r.SetItems(1000)
	c.advance(time.Second)
	r.SetItems(5)
	l := lines(buf.String())
	if len(l) != 2 || len(l[1]) != len(l[0]) {
		t.Errorf("got lines %q, want the second as long as the first", l)
	}
}

// A Reporter without a terminal, or a nil one, writes nothing.
func TestReporterSilent(t *testing.T) {
	var nilReporter *progress.Reporter
	silent := progress.New(nil, progress.Options{Label: "x", Bytes: 10, Items: 1, Noun: "packages"})
	for _, r := range []*progress.Reporter{nilReporter, silent} {
		r.AddBytes(5)
		r.SetBytes(10)
		r.AddItems(1)
		r.SetItems(1)
		r.BytesFunc()(1, 10)
		r.ItemsFunc()(1, 10)
		r.Finish(nil)
	}
	// A buffer is no terminal.
	if w := progress.Terminal(&bytes.Buffer{}); w != nil {
		t.Errorf("Terminal(bytes.Buffer) = %v, want nil", w)
	}
}

// Concurrent updates each land in one write: every line is whole.
func TestReporterConcurrent(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	var writes []string
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		writes = append(writes, string(p))
		return buf.Write(p)
	})
	// A clock far enough ahead on each call that every update prints.
	var cmu sync.Mutex
	t0 := time.Unix(0, 0)
	now := func() time.Time {
		cmu.Lock()
		defer cmu.Unlock()
		t0 = t0.Add(time.Second)
		return t0
	}
	r := progress.NewWithClock(w, progress.Options{Label: "downloading .debs", Bytes: 800, Items: 8, Noun: "packages"}, now)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				r.AddBytes(1)
			}
			r.AddItems(1)
		})
	}
	wg.Wait()
	r.Finish(nil)
	for _, s := range writes {
		if !strings.HasPrefix(s, "\rdownloading .debs: ") {
			t.Fatalf("write %q is not one whole line", s)
		}
	}
	if want := "downloading .debs: done in "; !strings.HasPrefix(writes[len(writes)-1], "\r"+want) {
		t.Errorf("last write %q, want the done line", writes[len(writes)-1])
	}
	if want := "100% of 800 B, 8 of 8 packages"; !strings.Contains(writes[len(writes)-2], want) {
		t.Errorf("last progress line %q, want %q", writes[len(writes)-2], want)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{2048, "2.0 KiB"},
		{3_900_000, "3.7 MiB"},
		{310 << 20, "310 MiB"},
		{1288490189, "1.2 GiB"},
		{12 << 30, "12 GiB"},
		{3 << 40, "3.0 TiB"},
	} {
		if got := progress.FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// Work with nothing to count shows the time it has taken, then its done
// line; Ticking drives it and stops when told.
func TestReporterTicks(t *testing.T) {
	c := newClock()
	var buf bytes.Buffer
	r := progress.NewWithClock(&buf, progress.Options{Label: "booting the VM"}, c.now)
	c.advance(1200 * time.Millisecond)
	r.Tick()
	c.advance(700 * time.Millisecond)
	r.Finish(nil)
	want := []string{"booting the VM: 1.2s", "booting the VM: done in 1.9s\n"}
	if got := trimmed(buf.String()); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", got, want)
	}

	var ticked syncBuffer
	live := progress.New(&ticked, progress.Options{Label: "waiting"})
	stop := live.Ticking()
	for !strings.Contains(ticked.String(), "waiting: ") {
		time.Sleep(progress.Interval)
	}
	stop()
	stop()
	live.Finish(errors.New("gave up"))
	if !strings.Contains(ticked.String(), "waiting: failed after ") {
		t.Errorf("ticking output %q does not end with the failure line", ticked.String())
	}
	silent := progress.New(nil, progress.Options{Label: "x"})
	silent.Ticking()()
}

// syncBuffer is a bytes.Buffer safe for the ticking goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
