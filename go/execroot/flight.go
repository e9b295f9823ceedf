package execroot

import (
	"context"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
)

// flight is one build of a cache key that concurrent callers share: the
// first caller (the builder) runs it in its own goroutine, under its own
// context; the callers that find it in the cache meanwhile (the waiters)
// wait for it. cache.acquire and treeCache.get keep this contract:
//
//   - A waiter whose context is done stops waiting at once and returns its
//     context's error. It cannot cancel the build, which goes on for the
//     builder and the other waiters.
//   - The build sees the builder's context only. If the builder's caller
//     gives up, the build fails with CANCELLED or DEADLINE_EXCEEDED and is
//     not cached, and each waiter whose own context is still live starts
//     over (see retryAbandoned): one of them builds the key again.
//
// golang.org/x/sync/singleflight does not fit this: Do's waiters cannot
// leave when their context is done, DoChan runs the build on a goroutine
// that the builder's caller need not wait for, and neither lets cache take
// a waiter's reference on the entry (which keeps it from eviction) before
// the build ends.
type flight struct {
	done chan struct{} // closed when the build has finished
	err  error         // the build's error, set before done is closed
}

func newFlight() flight { return flight{done: make(chan struct{})} }

// finish records the build's outcome and releases the waiters.
func (f *flight) finish(err error) {
	f.err = err
	close(f.done)
}

// finished reports whether the build has finished.
func (f *flight) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// wait returns the build's error once it has finished, or ctx's error as
// soon as ctx is done.
func (f *flight) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryAbandoned calls once, which looks a key up and builds it or waits
// for its flight (reporting waited), until the outcome is not a waiter's
// share of a build abandoned by its builder's caller while the waiter's own
// ctx is still live.
func retryAbandoned[T any](ctx context.Context, once func() (T, bool, error)) (T, bool, error) {
	for {
		v, waited, err := once()
		if waited && cancelled(err) && ctx.Err() == nil {
			continue // the builder's caller gave up; build it ourselves
		}
		return v, waited, err
	}
}

// cancelled reports whether err is a context's error (as a status or not).
func cancelled(err error) bool {
	c := rpcstatus.Code(err)
	return c == codes.Canceled || c == codes.DeadlineExceeded
}
