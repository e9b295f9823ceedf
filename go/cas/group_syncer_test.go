package cas

import (
	"context"
	"errors"
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

// syncAsync calls g.sync in a goroutine and returns a channel with its
// result.
func syncAsync(ctx context.Context, g *groupSyncer) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- g.sync(ctx) }()
	return ch
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

func wantBlocked(t *testing.T, what string, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned (%v) before its flush ended", what, err)
	case <-time.After(50 * time.Millisecond):
	}
}

func wantResult(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
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

func TestGroupSyncerWaitsForAFlushStartedAfterTheCall(t *testing.T) {
	ctx := context.Background()
	f := newStalledFlush()
	g := newGroupSyncer(f.flush)

	first := syncAsync(ctx, g)
	waitStarted(t, f, 1)
	// These arrive while flush 1 runs: its end must not release them,
	// because it may have missed what they wrote.
	var late []<-chan error
	for range 5 {
		late = append(late, syncAsync(ctx, g))
	}
	registered(t, g, len(late))
	f.release <- nil
	if err := wantResult(t, "the first caller", first); err != nil {
		t.Fatalf("first sync = %v, want nil", err)
	}
	waitStarted(t, f, 2)
	for i, ch := range late {
		wantBlocked(t, "late caller "+string(rune('0'+i)), ch)
	}
	f.release <- nil
	for _, ch := range late {
		if err := wantResult(t, "a late caller", ch); err != nil {
			t.Fatalf("late sync = %v, want nil", err)
		}
	}
	if got := g.syncs.Load(); got != 2 {
		t.Errorf("flushes = %d, want 2 (one for the first caller, one shared by the 5 late ones)", got)
	}
	// The goroutine exits when idle; a new caller starts it again.
	third := syncAsync(ctx, g)
	waitStarted(t, f, 3)
	f.release <- nil
	if err := wantResult(t, "a caller after an idle period", third); err != nil {
		t.Fatalf("sync = %v, want nil", err)
	}
}

func TestGroupSyncerErrorReachesEveryWaiterOfItsRound(t *testing.T) {
	ctx := context.Background()
	f := newStalledFlush()
	g := newGroupSyncer(f.flush)

	first := syncAsync(ctx, g)
	waitStarted(t, f, 1)
	var round2 []<-chan error
	for range 3 {
		round2 = append(round2, syncAsync(ctx, g))
	}
	registered(t, g, len(round2))
	epoch0 := g.failureEpoch()
	f.release <- nil
	if err := wantResult(t, "round 1", first); err != nil {
		t.Fatalf("round 1 sync = %v, want nil", err)
	}
	waitStarted(t, f, 2)
	f.release <- errors.New("input/output error")
	for _, ch := range round2 {
		err := wantResult(t, "round 2", ch)
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "input/output error") {
			t.Errorf("round 2 sync = %v, want INTERNAL with the flush's error", err)
		}
	}
	if got := g.failureEpoch(); got != epoch0+1 {
		t.Errorf("failure epoch = %d, want %d", got, epoch0+1)
	}
	// The next round starts clean.
	third := syncAsync(ctx, g)
	waitStarted(t, f, 3)
	f.release <- nil
	if err := wantResult(t, "round 3", third); err != nil {
		t.Errorf("round 3 sync = %v, want nil", err)
	}
}

func TestGroupSyncerCallerGivesUp(t *testing.T) {
	f := newStalledFlush()
	g := newGroupSyncer(f.flush)
	ctx, cancel := context.WithCancel(context.Background())
	ch := syncAsync(ctx, g)
	waitStarted(t, f, 1)
	cancel()
	if err := wantResult(t, "a cancelled caller", ch); status.Code(err) != codes.Canceled {
		t.Errorf("sync = %v, want CANCELLED", err)
	}
	f.release <- nil
	other := syncAsync(context.Background(), g)
	waitStarted(t, f, 2)
	f.release <- nil
	if err := wantResult(t, "the next caller", other); err != nil {
		t.Errorf("sync = %v, want nil", err)
	}
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
	if n := g.syncs.Load(); n >= callers/4 {
		t.Errorf("%d flushes for %d concurrent callers, want far fewer", n, callers)
	}
	t.Logf("%d flushes for %d callers", g.syncs.Load(), callers)
}
