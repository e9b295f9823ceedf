package cas

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// stalledFlush is a flush function that reports each start and waits to be
// released, so a test decides when each flush ends and with what error.
type stalledFlush struct {
	started  chan int   // receives the 1-based number of each flush as it starts
	release  chan error // each value ends one flush with that error
	running  atomic.Int64
	finished atomic.Int64
}

func newStalledFlush() *stalledFlush {
	return &stalledFlush{started: make(chan int, 100), release: make(chan error)}
}

func (f *stalledFlush) flush() error {
	n := f.running.Add(1)
	f.started <- int(n)
	err := <-f.release
	f.finished.Add(1)
	return err
}

// result is what a call made in the background returned, and how many
// flushes of a stalledFlush had ended by then.
type result struct {
	err     error
	flushed int64
}

// async calls fn in a goroutine and returns a channel with its result.
// Recording how many flushes had ended when fn returned tells, without
// waiting to see whether it returns early, whether it waited for them.
func (f *stalledFlush) async(fn func() error) <-chan result {
	ch := make(chan result, 1)
	go func() {
		err := fn()
		ch <- result{err, f.finished.Load()}
	}()
	return ch
}

// syncAsync calls g.sync in a goroutine and returns a channel with its
// result.
func syncAsync(ctx context.Context, g *groupSyncer, f *stalledFlush) <-chan result {
	return f.async(func() error { return g.sync(ctx) })
}

func waitStarted(t *testing.T, f *stalledFlush, want int) {
	t.Helper()
	select {
	case n := <-f.started:
		if n != want {
			t.Fatalf("flush %d started, want flush %d", n, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("flush %d did not start", want)
	}
}

// wantResult waits for a call made with async and returns its error.
func wantResult(t *testing.T, what string, ch <-chan result) error {
	t.Helper()
	return wantFlushed(t, what, ch, 0)
}

// wantFlushed is wantResult for a call that must not return before
// flushes flushes have ended.
func wantFlushed(t *testing.T, what string, ch <-chan result, flushes int64) error {
	t.Helper()
	select {
	case r := <-ch:
		if r.flushed < flushes {
			t.Errorf("%s returned (%v) when %d flushes had ended, want it to wait for %d", what, r.err, r.flushed, flushes)
		}
		return r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

// registered waits until n callers are queued for the next round, so the
// test knows they arrived while the current flush was running.
func registered(t *testing.T, g *groupSyncer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		queued := 0
		if g.next != nil {
			queued = g.next.waiters
		}
		g.mu.Unlock()
		if queued >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers queued for the next flush, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// secondRound has one caller start flush 1 and, while it runs, n more
// callers queue for the next flush. It then ends flush 1 without error,
// checks that it released the first caller, waits for flush 2 to start
// and returns the results of the n callers.
func secondRound(t *testing.T, g *groupSyncer, f *stalledFlush, n int) []<-chan result {
	t.Helper()
	ctx := context.Background()
	first := syncAsync(ctx, g, f)
	waitStarted(t, f, 1)
	var late []<-chan result
	for range n {
		late = append(late, syncAsync(ctx, g, f))
	}
	registered(t, g, n)
	f.release <- nil
	if err := wantFlushed(t, "the first caller", first, 1); err != nil {
		t.Fatalf("first sync = %v, want nil", err)
	}
	waitStarted(t, f, 2)
	return late
}

// soloRound has one caller sync alone and checks that flush n, which it
// started, released it without error.
func soloRound(t *testing.T, g *groupSyncer, f *stalledFlush, n int) {
	t.Helper()
	ch := syncAsync(context.Background(), g, f)
	waitStarted(t, f, n)
	f.release <- nil
	if err := wantFlushed(t, fmt.Sprintf("the caller of flush %d", n), ch, int64(n)); err != nil {
		t.Errorf("sync = %v, want nil", err)
	}
}

func TestGroupSyncerWaitsForAFlushStartedAfterTheCall(t *testing.T) {
	f := newStalledFlush()
	g := newGroupSyncer(f.flush)
	// These arrive while flush 1 runs: its end must not release them,
	// because it may have missed what they wrote.
	late := secondRound(t, g, f, 5)
	f.release <- nil
	for _, ch := range late {
		if err := wantFlushed(t, "a late caller", ch, 2); err != nil {
			t.Fatalf("late sync = %v, want nil", err)
		}
	}
	if got := g.syncs.Load(); got != 2 {
		t.Errorf("flushes = %d, want 2 (one for the first caller, one shared by the 5 late ones)", got)
	}
	// The goroutine exits when idle; a new caller starts it again.
	soloRound(t, g, f, 3)
}

func TestGroupSyncerErrorReachesEveryWaiterOfItsRound(t *testing.T) {
	f := newStalledFlush()
	g := newGroupSyncer(f.flush)
	epoch0 := g.failureEpoch()
	round2 := secondRound(t, g, f, 3)
	f.release <- errors.New("input/output error")
	for _, ch := range round2 {
		err := wantFlushed(t, "round 2", ch, 2)
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "input/output error") {
			t.Errorf("round 2 sync = %v, want INTERNAL with the flush's error", err)
		}
	}
	if got := g.failureEpoch(); got != epoch0+1 {
		t.Errorf("failure epoch = %d, want %d", got, epoch0+1)
	}
	// The next round starts clean.
	soloRound(t, g, f, 3)
}

func TestGroupSyncerCallerGivesUp(t *testing.T) {
	f := newStalledFlush()
	g := newGroupSyncer(f.flush)
	ctx, cancel := context.WithCancel(context.Background())
	ch := syncAsync(ctx, g, f)
	waitStarted(t, f, 1)
	cancel()
	if err := wantResult(t, "a cancelled caller", ch); status.Code(err) != codes.Canceled {
		t.Errorf("sync = %v, want CANCELLED", err)
	}
	f.release <- nil
	soloRound(t, g, f, 2)
}

// TestGroupSyncerConcurrentCallers checks, for many racing callers, that
// each one returns only after a flush that started after it called has
// ended, and that they share flushes.
func TestGroupSyncerConcurrentCallers(t *testing.T) {
	var started, finished atomic.Int64
	g := newGroupSyncer(func() error {
		started.Add(1)
		time.Sleep(time.Millisecond)
		finished.Add(1)
		return nil
	})
	const callers = 200
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range callers {
		wg.Go(func() {
			// Flushes numbered up to before have started (maybe not
			// ended); only a later one may release this caller.
			before := started.Load()
			if err := g.sync(context.Background()); err != nil {
				t.Errorf("sync = %v", err)
			}
			if finished.Load() < before+1 {
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d callers returned before a flush that started after them had ended", bad.Load())
	}
	// How many flushes they share depends on how the callers overlap;
	// TestGroupSyncerWaitsForAFlushStartedAfterTheCall pins the sharing
	// down. Here it is enough that flushes are shared at all.
	if n := g.syncs.Load(); n >= callers {
		t.Errorf("%d flushes for %d concurrent callers, want fewer than one each", n, callers)
	}
	t.Logf("%d flushes for %d callers", g.syncs.Load(), callers)
}
