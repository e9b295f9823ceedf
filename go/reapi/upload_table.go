package reapi

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actiond/actiond/go/cas"
)

// upload is an incomplete ByteStream write kept for resumption. Only the
// stream holding its slot touches w.
type upload struct {
	name      string
	slot      chan struct{} // holds one token while a stream writes
	w         *cas.Writer   // nil until the holder creates it
	committed atomic.Int64  // bytes written, readable without the slot
	lastUsed  time.Time     // guarded by uploadTable.mu
	removed   bool          // guarded by uploadTable.mu
}

// uploadTable keeps incomplete uploads by resource name, so that a client
// whose stream broke can ask QueryWriteStatus and resume from the committed
// size, and drops those idle for longer than the timeout.
type uploadTable struct {
	logger  *slog.Logger
	idle    time.Duration
	maxKept int
	mu      sync.Mutex
	uploads map[string]*upload
	stop    chan struct{}
	done    chan struct{}
}

func newUploadTable(logger *slog.Logger, idle time.Duration, maxKept int) *uploadTable {
	t := &uploadTable{
		logger:  logger,
		idle:    idle,
		maxKept: maxKept,
		uploads: map[string]*upload{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go t.collectLoop()
	return t
}

// acquire returns the upload for name with its slot held, creating the
// entry when there is none. A second stream for the same name waits until
// the first releases it, so a resumed stream never interleaves with the
// broken one the server has not yet noticed.
func (t *uploadTable) acquire(ctx context.Context, name string) (*upload, error) {
	for {
		t.mu.Lock()
		u := t.uploads[name]
		if u == nil {
			u = &upload{name: name, slot: make(chan struct{}, 1), lastUsed: time.Now()}
			t.uploads[name] = u
		}
		t.mu.Unlock()
		select {
		case u.slot <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		t.mu.Lock()
		removed := u.removed
		t.mu.Unlock()
		if !removed {
			return u, nil
		}
		<-u.slot // collected while we waited; start over with a fresh entry
	}
}

// release gives the slot back. With keep the upload stays for resumption;
// otherwise its writer is closed (aborting it unless committed) and the
// entry removed.
func (t *uploadTable) release(u *upload, keep bool) {
	t.mu.Lock()
	u.lastUsed = time.Now()
	if !keep {
		u.removed = true
		if t.uploads[u.name] == u {
			delete(t.uploads, u.name)
		}
	}
	over := len(t.uploads) > t.maxKept
	t.mu.Unlock()
	if !keep && u.w != nil {
		if err := u.w.Close(); err != nil {
			t.logger.Warn("closing upload", slog.String("resource_name", u.name), slog.Any("error", err))
		}
		u.w = nil
	}
	<-u.slot
	if over {
		t.trim()
	}
}

// trim drops the least recently used idle uploads while more than maxKept
// are kept. Uploads being written are never dropped, so the table may stay
// above the cap while that many streams are open.
func (t *uploadTable) trim() {
	t.mu.Lock()
	excess := len(t.uploads) - t.maxKept
	if excess <= 0 {
		t.mu.Unlock()
		return
	}
	byAge := make([]*upload, 0, len(t.uploads))
	for _, u := range t.uploads {
		byAge = append(byAge, u)
	}
	slices.SortFunc(byAge, func(a, b *upload) int { return a.lastUsed.Compare(b.lastUsed) })
	var victims []*upload
	for _, u := range byAge {
		if len(victims) == excess {
			break
		}
		if t.takeLocked(u) {
			victims = append(victims, u)
		}
	}
	t.mu.Unlock()
	if len(victims) > 0 {
		t.logger.Warn("too many incomplete uploads kept, dropping the least recently used", slog.Int("dropped", len(victims)), slog.Int("max_kept", t.maxKept))
	}
	t.abort(victims)
}

// committed reports the bytes written so far for name, if an upload is in
// progress.
func (t *uploadTable) committed(name string) (int64, bool) {
	t.mu.Lock()
	u := t.uploads[name]
	t.mu.Unlock()
	if u == nil {
		return 0, false
	}
	return u.committed.Load(), true
}

// collectLoop drops idle uploads until close.
func (t *uploadTable) collectLoop() {
	defer close(t.done)
	interval := t.idle / 2
	if interval > time.Minute {
		interval = time.Minute
	}
	if interval <= 0 {
		interval = time.Millisecond
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-t.stop:
			t.collect(time.Time{})
			return
		case now := <-ticker.C:
			t.collect(now.Add(-t.idle))
		}
	}
}

// collect aborts every upload not in use and last used before cutoff; the
// zero cutoff collects all of them that are not in use.
func (t *uploadTable) collect(cutoff time.Time) {
	var victims []*upload
	t.mu.Lock()
	for _, u := range t.uploads {
		if !cutoff.IsZero() && !u.lastUsed.Before(cutoff) {
			continue
		}
		if t.takeLocked(u) {
			victims = append(victims, u)
		}
	}
	t.mu.Unlock()
	t.abort(victims)
}

// takeLocked removes u from the table unless a stream is writing it, and
// reports whether it did; the caller holds t.mu and, on true, u's slot,
// which abort gives back.
func (t *uploadTable) takeLocked(u *upload) bool {
	select {
	case u.slot <- struct{}{}:
	default:
		return false // a stream is writing it
	}
	u.removed = true
	delete(t.uploads, u.name)
	return true
}

// abort closes the writers of removed uploads whose slots the caller holds,
// and gives the slots back.
func (t *uploadTable) abort(victims []*upload) {
	for _, u := range victims {
		if u.w != nil {
			t.logger.Debug("dropping idle upload", slog.String("resource_name", u.name), slog.Int64("committed_size", u.committed.Load()))
			if err := u.w.Close(); err != nil {
				t.logger.Warn("closing idle upload", slog.String("resource_name", u.name), slog.Any("error", err))
			}
			u.w = nil
		}
		<-u.slot
	}
}

// close stops collection and aborts the uploads not in use.
func (t *uploadTable) close() {
	close(t.stop)
	<-t.done
}

// len reports how many uploads are kept, for tests and logs.
func (t *uploadTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.uploads)
}
