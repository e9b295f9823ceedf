package cas

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"time"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// settleLater queues u for settle, starting it unless it runs. Once Close
// has begun it queues nothing and returns false (Close may already be
// waiting for settle to end): the caller then waits for a flush itself.
// Executable variants cannot meet that: Close waits for LinkExecutables
// calls (makers) before it sets closing.
func (s *Store) settleLater(u unsettled) bool {
	s.mu.Lock()
	if s.closing && u.acknowledged {
		s.mu.Unlock()
		return false
	}
	s.unsettled = append(s.unsettled, u)
	start := !s.settling
	s.settling = true
	if start {
		s.settlers.Add(1)
	}
	s.mu.Unlock()
	if start {
		go s.settle()
	}
	return true
}

// settle is the background flush. It waits FlushInterval (or until Close
// wakes it), then flushes the filesystem once for every unsettled file and
// gives each its verdict (see awaitDurableAll): confirmed, or removed
// because a flush failed after its bytes were written. Then it removes the
// confirmed files' recent links and starts over. Like the group syncer it
// runs only while there is work, and Close waits for it.
func (s *Store) settle() {
	defer s.settlers.Done()
	timer := time.NewTimer(s.flushInterval)
	defer timer.Stop()
	for {
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if !closing {
			select {
			case <-timer.C:
			case <-s.kick:
			}
		}
		s.mu.Lock()
		batch := s.unsettled
		if len(batch) == 0 {
			s.settling = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		durs := make([]*durability, len(batch))
		drops := make([]func(), len(batch))
		for i, u := range batch {
			durs[i], drops[i] = u.dur, u.drop
		}
		if err := s.awaitDurableAll(context.Background(), durs, drops); err != nil {
			s.logger.Error("cas: removed files whose flush to disk failed", slog.Int("unflushed_files", len(batch)), slog.String("error", err.Error()))
		}
		s.sweepSettled()
		timer.Reset(s.flushInterval)
	}
}

// wakeSettle makes a sleeping settle run now.
func (s *Store) wakeSettle() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// sweepSettled takes the files that have their verdict off the unsettled
// list and removes their recent links: a confirmed blob needs no check
// after a crash, and a dropped one is gone.
func (s *Store) sweepSettled() {
	s.mu.Lock()
	keep := make([]unsettled, 0, len(s.unsettled))
	var links []string
	for _, u := range s.unsettled {
		switch {
		case u.dur.pending:
			keep = append(keep, u)
		case u.link != "":
			links = append(links, u.link)
		}
	}
	s.unsettled = keep
	s.mu.Unlock()
	for _, l := range links {
		_ = os.Remove(l)
	}
}

// Sync returns once every blob acknowledged before the call is on disk,
// flushing the filesystem if any is not yet (in epoch mode; otherwise each
// was on disk before it was acknowledged). If a flush fails, the blobs it
// should have confirmed are removed (a client must upload them again) and
// Sync returns INTERNAL.
func (s *Store) Sync(ctx context.Context) error {
	s.mu.Lock()
	var durs []*durability
	var drops []func()
	for _, u := range s.unsettled {
		if u.acknowledged {
			durs = append(durs, u.dur)
			drops = append(drops, u.drop)
		}
	}
	s.mu.Unlock()
	err := s.awaitDurableAll(ctx, durs, drops)
	s.sweepSettled()
	return rpcstatus.Wrapf(err, "cas: making acknowledged blobs durable")
}

// dropBlob returns the drop function for the verdict on blob e's file.
func (s *Store) dropBlob(ctx context.Context, e *entry) func() {
	return func() {
		if s.index[e.key] == e {
			s.dropLocked(e, true)
			s.logger.LogAttrs(ctx, slog.LevelError, "cas: removed a blob whose flush to disk failed",
				slog.String("digest", hex.EncodeToString(e.key[:])), slog.Int64("size", e.size))
		}
	}
}

// dropExec returns the drop function for the verdict on e's executable
// variant, whose durability state is dur.
func (s *Store) dropExec(e *entry, dur *durability) func() {
	return func() {
		if s.index[e.key] == e && e.hasExec && e.execDur == dur {
			d := digest.Digest{Hash: hex.EncodeToString(e.key[:]), Size: e.size}
			_ = os.Remove(s.execPath(d))
			e.hasExec = false
			e.execDur = nil
			s.bytes -= e.size
		}
	}
}
