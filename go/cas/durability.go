package cas

import (
	"context"
	"os"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
)

// durability is the state of one file renamed into the store before a
// filesystem flush has confirmed it: see Store.awaitDurable. Each file gets
// its own, so a verdict can never apply to a later file of the same name.
type durability struct {
	epoch   int64 // groupSyncer.failureEpoch before the file's bytes were written
	pending bool  // no verdict yet
	err     error // the verdict when the file could not be confirmed
}

// awaitBlob returns once blob e's file may be acknowledged: in strict mode,
// once it is known to be on disk, waiting for
// a shared filesystem flush if it is not yet. Every path that acknowledges
// a blob as stored goes through here, those that found it already stored
// included: the writer that renamed it in may still be waiting for its
// flush. If the flush fails, the blob is removed (see awaitDurable).
//
// In epoch mode a blob is acknowledged without waiting: the background
// flush (settle) confirms it, and Open checks it after a crash. Only once
// Close has begun, when no background flush will come, does it wait.
func (s *Store) awaitBlob(ctx context.Context, e *entry) error {
	s.mu.Lock()
	dur := e.dur
	deferred := s.epochs && !s.closing
	s.mu.Unlock()
	if deferred {
		return nil
	}
	return s.awaitDurable(ctx, dur, s.dropBlob(ctx, e))
}

// awaitDurable waits for a flush that began after the call (and so after
// the file was renamed in) and confirms the file dur belongs to: it is on
// disk if that flush succeeded and no flush failed since the file's bytes
// were written (dur.epoch). Otherwise the file may have lost its bytes: a
// failed writeback leaves correct bytes in the page cache only until they
// are evicted, and the disk with whatever it holds. Such a file, visible
// but never acknowledged, is not kept: drop (called under s.mu) removes
// it, and everybody waiting on it gets the error (INTERNAL), so a client
// uploads it again. Only a caller that gave up (ctx) leaves the verdict to
// the next one. A nil dur means durable.
func (s *Store) awaitDurable(ctx context.Context, dur *durability, drop func()) error {
	return s.awaitDurableAll(ctx, []*durability{dur}, []func(){drop})
}

// awaitDurableAll is awaitDurable for several files with one flush for all
// of them; drops[i] removes the file of durs[i]. It returns the first error.
func (s *Store) awaitDurableAll(ctx context.Context, durs []*durability, drops []func()) error {
	s.mu.Lock()
	pending := false
	for _, dur := range durs {
		pending = pending || dur != nil && dur.pending
	}
	s.mu.Unlock()
	var syncErr error
	if pending {
		syncErr = s.syncer.sync(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for i, dur := range durs {
		if dur == nil {
			continue
		}
		if err := s.verdictLocked(ctx, dur, syncErr, drops[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// verdictLocked settles dur after a flush that ended with err.
func (s *Store) verdictLocked(ctx context.Context, dur *durability, err error, drop func()) error {
	switch {
	case !dur.pending: // another waiter's flush gave the verdict
		return dur.err
	case err == nil && s.syncer.failureEpoch() == dur.epoch:
		dur.pending = false
		return nil
	case err == nil:
		err = rpcstatus.Newf(codes.Internal, "cas: a filesystem flush failed while the blob was being written, so it may not be on disk")
	case ctx.Err() != nil:
		return err
	}
	dur.pending = false
	dur.err = err
	drop()
	return err
}

// flush is the groupSyncer's flush: syncfs on the store's directory, which
// is on the filesystem of every blob and temp file.
func (s *Store) flush() error {
	s.baseMu.RLock()
	defer s.baseMu.RUnlock()
	dir := s.baseDir
	if dir == nil {
		var err error
		if dir, err = os.Open(s.base); err != nil {
			return err
		}
		defer dir.Close()
	}
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syncFilesystem(int(fd)) }); err != nil {
		return err
	}
	return serr
}
