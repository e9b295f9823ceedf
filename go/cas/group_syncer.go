package cas

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/actiond/actiond/go/rpcstatus"
)

// groupSyncer shares filesystem flushes between concurrent writers (group
// commit). A caller of sync is released by the first flush that began after
// it called, so everything it wrote and renamed before calling is on disk
// when sync returns nil. Callers that arrive while a flush is running all
// wait for the next one: N concurrent commits cost about two flushes, not
// 2N fsyncs.
//
// This is not golang.org/x/sync/singleflight: singleflight lets a caller
// join a call already in flight, which here would release a writer with a
// flush that may have started before its rename and so missed it. A round
// takes callers only until its flush starts; later ones queue for the
// next. A caller also stops waiting when its context ends, without
// cancelling the flush for the others.
//
// There is no long-lived goroutine: the first caller to find the syncer
// idle starts one, which runs flushes while callers keep arriving and exits
// when a flush ends with nobody waiting. So a Store needs no shutdown for
// it, and an idle store costs nothing.
type groupSyncer struct {
	mu sync.Mutex
	// flush makes everything written to the filesystem so far durable
	// (syncfs on Linux); a field so tests can watch, stall and fail it.
	flush   func() error
	next    *syncRound // the round new callers join; nil when none is queued
	running bool       // a goroutine is running rounds

	syncs    atomic.Int64 // flushes run
	failures atomic.Int64 // flushes that failed; see failureEpoch
}

// syncRound is one flush and everybody waiting for it.
type syncRound struct {
	done    chan struct{} // closed when the flush has ended
	err     error         // set before done is closed
	waiters int           // callers that joined, under groupSyncer.mu
}

func newGroupSyncer(flush func() error) *groupSyncer {
	return &groupSyncer{flush: flush}
}

// sync blocks until a flush that started after the call has completed and
// returns its error, or returns early with ctx's error. An error from the
// flush is INTERNAL and is returned to every caller of that round.
func (g *groupSyncer) sync(ctx context.Context) error {
	g.mu.Lock()
	if g.next == nil {
		g.next = &syncRound{done: make(chan struct{})}
	}
	r := g.next
	r.waiters++
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	select {
	case <-r.done:
		if r.err != nil {
			return rpcstatus.Wrapf(r.err, "cas: flushing the filesystem to disk")
		}
		return nil
	case <-ctx.Done():
		return rpcstatus.Wrapf(ctx.Err(), "cas: waiting for the filesystem flush")
	}
}

// run takes the queued round, flushes and releases its callers, until no
// round is queued. A round is taken (so that it accepts no more callers)
// before its flush starts, which is what makes every caller's flush one
// that began after the caller arrived.
func (g *groupSyncer) run() {
	for {
		g.mu.Lock()
		r := g.next
		if r == nil {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.next = nil
		flush := g.flush
		g.mu.Unlock()
		r.err = flush()
		g.syncs.Add(1)
		if r.err != nil {
			// Counted before the callers are released, so that they (and
			// everybody after them) see the new epoch.
			g.failures.Add(1)
		}
		close(r.done)
	}
}

// failureEpoch is the number of failed flushes so far. A writer samples it
// before it writes a blob's bytes and checks it after its own flush
// succeeded: if any flush failed in between, the failure may have been the
// writeback of this blob's bytes (a writeback error is reported only once,
// to whichever flush checks first, and may come out of an earlier, still
// running round), so the blob cannot be acknowledged.
func (g *groupSyncer) failureEpoch() int64 { return g.failures.Load() }
