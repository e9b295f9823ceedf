package cas

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/digest"
)

// scriptedFlush replaces a store's flush: each call returns the next
// queued error (nil when none is queued) and is counted.
type scriptedFlush struct {
	mu    sync.Mutex
	errs  []error
	calls int
}

func (f *scriptedFlush) flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

func (f *scriptedFlush) failNext(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
}

// openEpochs opens a store in epoch mode, whatever the filesystem of root,
// whose background flush only runs when the test asks (Sync, Close): its
// interval is an hour. Its flushes go through a scriptedFlush that then
// calls the real one.
func openEpochs(t *testing.T, root string) (*Store, *scriptedFlush) {
	t.Helper()
	s, err := Open(context.Background(), Options{Root: root, forceEpochs: true, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &scriptedFlush{}
	real := s.flush
	s.syncer.mu.Lock()
	s.syncer.flush = func() error {
		if err := f.flush(); err != nil {
			return err
		}
		return real()
	}
	s.syncer.mu.Unlock()
	return s, f
}

func recentLinks(t *testing.T, s *Store) []string {
	t.Helper()
	des, err := os.ReadDir(s.recentDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func put(t *testing.T, s *Store, text string) digest.Digest {
	t.Helper()
	data := []byte(text)
	d := digest.OfBytes(data)
	if err := s.Put(context.Background(), d, data); err != nil {
		t.Fatalf("Put(%q) = %v", text, err)
	}
	return d
}

// damage overwrites blob d's file with as many other bytes, as a write the
// disk lost leaves it (stale blocks within the file's size), and dates it
// back to 1970, as if the wall clock had stepped back before it was
// written: the check after a crash must not depend on timestamps.
func damage(t *testing.T, s *Store, d digest.Digest) {
	t.Helper()
	p := s.Path(d)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, d.Size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, blobMode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, time.Unix(1, 0), time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
}

// TestEpochsAcknowledgeBeforeTheFlush: every write path returns with the
// blob renamed in and linked under recent/, without a flush; the next
// background flush (Sync here) confirms it and removes the link.
func TestEpochsAcknowledgeBeforeTheFlush(t *testing.T) {
	data := []byte("acknowledged before its flush\n")
	d := digest.OfBytes(data)
	fromFile := func(move bool) func(s *Store, root string) error {
		return func(s *Store, root string) error {
			p := filepath.Join(root, "out")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
			var err error
			if move {
				_, err = s.MoveFile(context.Background(), p, s.FlushFailures())
			} else {
				_, err = s.CopyFile(context.Background(), p)
			}
			return err
		}
	}
	tests := []struct {
		name  string
		store func(s *Store, root string) error
	}{
		{"Put", func(s *Store, _ string) error { return s.Put(context.Background(), d, data) }},
		{"Writer", func(s *Store, _ string) error { return writeAll(s, d, data) }},
		{"MoveFile", fromFile(true)},
		{"CopyFile", fromFile(false)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s, f := openEpochs(t, root)
			if err := tc.store(s, root); err != nil {
				t.Fatalf("%s = %v", tc.name, err)
			}
			if f.calls != 0 {
				t.Errorf("%s flushed %d times before returning, want 0", tc.name, f.calls)
			}
			if links := recentLinks(t, s); len(links) != 1 {
				t.Errorf("recent links after %s = %q, want one", tc.name, links)
			}
			if st := s.Stats(); st.Unflushed != 1 {
				t.Errorf("Stats().Unflushed = %d, want 1", st.Unflushed)
			}
			if got, err := s.ReadAll(context.Background(), d, 1<<20); err != nil || string(got) != string(data) {
				t.Errorf("ReadAll before the flush = %q, %v", got, err)
			}
			if err := s.Sync(context.Background()); err != nil {
				t.Fatalf("Sync = %v", err)
			}
			if f.calls != 1 {
				t.Errorf("Sync flushed %d times, want 1", f.calls)
			}
			if links := recentLinks(t, s); len(links) != 0 {
				t.Errorf("recent links after the flush = %q, want none", links)
			}
			if st := s.Stats(); st.Unflushed != 0 {
				t.Errorf("Stats().Unflushed after the flush = %d, want 0", st.Unflushed)
			}
		})
	}
}

// TestEpochsRecoverAfterCrash: after a crash, Open hashes again the blobs
// written since the last completed flush, drops those that do not match
// (even when their timestamps say they are old) and keeps the rest; the
// blobs confirmed before are kept without a check.
func TestEpochsRecoverAfterCrash(t *testing.T) {
	root := t.TempDir()
	s, _ := openEpochs(t, root)
	confirmed := put(t, s, "confirmed by a flush\n")
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	intact := put(t, s, "written after the flush, intact\n")
	lost := put(t, s, "written after the flush, its bytes lost\n")
	damage(t, s, lost)
	s.abandon()

	s2, _ := openEpochs(t, root)
	missing := s2.FindMissing(context.Background(), []digest.Digest{confirmed, intact, lost})
	if len(missing) != 1 || missing[0] != lost {
		t.Errorf("missing after the crash = %v, want only %s", missing, lost)
	}
	if exists(s2.Path(lost)) {
		t.Errorf("the damaged blob's file is still there")
	}
	for _, d := range []digest.Digest{confirmed, intact} {
		if _, err := s2.ReadAll(context.Background(), d, 1<<20); err != nil {
			t.Errorf("ReadAll(%s) = %v", d, err)
		}
	}
	if links := recentLinks(t, s2); len(links) != 0 {
		t.Errorf("recent links after Open = %q, want none", links)
	}
}

// TestEpochsCancelledOpenDropsNothing: a check after a crash that is cut
// short (the daemon stopped while starting) must not take the blobs it
// could not hash for damaged ones; the next Open checks them.
func TestEpochsCancelledOpenDropsNothing(t *testing.T) {
	root := t.TempDir()
	s, _ := openEpochs(t, root)
	var ds []digest.Digest
	for i := range 3 {
		ds = append(ds, put(t, s, fmt.Sprintf("unflushed blob %d\n", i)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.checkRecent(ctx); status.Code(err) != codes.Canceled {
		t.Errorf("checkRecent with a cancelled context = %v, want CANCELLED", err)
	}
	if missing := s.FindMissing(context.Background(), ds); len(missing) != 0 {
		t.Errorf("checkRecent cut short dropped %v", missing)
	}
	if links := recentLinks(t, s); len(links) != len(ds) {
		t.Errorf("recent links after the cut-short check = %q, want %d", links, len(ds))
	}
	s.abandon()
	if _, err := Open(ctx, Options{Root: root, forceEpochs: true}); err == nil {
		t.Fatal("Open with a cancelled context succeeded")
	}
	s2, _ := openEpochs(t, root)
	if missing := s2.FindMissing(context.Background(), ds); len(missing) != 0 {
		t.Errorf("after a cancelled Open, the next Open lost %v", missing)
	}
}

// TestEpochsFailureSeenByAnotherFlush: a writeback error is reported once,
// to whichever flush checks first. When another flush (here one run
// directly, as a strict-mode wait or the action cache's would) consumed
// it, the next successful flush must not vouch for the blobs written
// before it: they are dropped, and Sync says so.
func TestEpochsFailureSeenByAnotherFlush(t *testing.T) {
	root := t.TempDir()
	s, f := openEpochs(t, root)
	d := put(t, s, "its writeback failed\n")
	f.failNext(errors.New("injected writeback error"))
	if err := s.syncer.sync(context.Background()); err == nil {
		t.Fatal("the injected flush failure was not reported")
	}
	if err := s.Sync(context.Background()); status.Code(err) != codes.Internal {
		t.Errorf("Sync after a failed flush = %v, want INTERNAL", err)
	}
	if missing := s.FindMissing(context.Background(), []digest.Digest{d}); len(missing) != 1 {
		t.Errorf("blob written before a failed flush is still served")
	}
	if exists(s.Path(d)) {
		t.Errorf("its file is still there")
	}
	if links := recentLinks(t, s); len(links) != 0 {
		t.Errorf("recent links after the verdict = %q, want none", links)
	}
	// Blobs written after the failure are confirmed as usual.
	d2 := put(t, s, "written after the failure\n")
	if err := s.Sync(context.Background()); err != nil {
		t.Errorf("Sync = %v", err)
	}
	if missing := s.FindMissing(context.Background(), []digest.Digest{d2}); len(missing) != 0 {
		t.Errorf("blob written after the failure is missing")
	}
}

// TestMoveFileAfterAFlushFailureCopies: an action's output written before
// a flush failure that was reported before MoveFile ran may have lost its
// bytes on disk (the page cache still shows the right ones). MoveFile,
// told the failure count from before the file was written, must store a
// fresh copy instead of the file itself.
func TestMoveFileAfterAFlushFailureCopies(t *testing.T) {
	root := t.TempDir()
	s, f := openEpochs(t, root)
	before := s.FlushFailures()
	data := []byte("an output written before a failed flush\n")
	p := filepath.Join(root, "out")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	written, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	f.failNext(errors.New("injected writeback error"))
	if err := s.syncer.sync(context.Background()); err == nil {
		t.Fatal("the injected flush failure was not reported")
	}
	d, err := s.MoveFile(context.Background(), p, before)
	if err != nil {
		t.Fatalf("MoveFile = %v", err)
	}
	stored, err := os.Stat(s.Path(d))
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(written, stored) {
		t.Errorf("MoveFile stored the file written before the flush failure instead of a copy")
	}
	if exists(p) {
		t.Errorf("MoveFile left the file at %s", p)
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Errorf("Sync = %v: the copy was written after the failure", err)
	}
}

// TestEpochsBackgroundFlushAndClose: the background flush confirms blobs
// by itself after FlushInterval, and Close runs it at once.
func TestEpochsBackgroundFlushAndClose(t *testing.T) {
	t.Run("interval", func(t *testing.T) {
		s, err := Open(context.Background(), Options{Root: t.TempDir(), forceEpochs: true, FlushInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		syncs := s.Stats().Syncs
		put(t, s, "settled in the background\n")
		s.settlers.Wait() // the loop ends once nothing is left to confirm
		if st := s.Stats(); st.Unflushed != 0 || st.Syncs <= syncs {
			t.Errorf("after the background flush: %+v; want nothing unflushed and more than %d flushes", st, syncs)
		}
		if links := recentLinks(t, s); len(links) != 0 {
			t.Errorf("recent links = %q, want none", links)
		}
	})
	t.Run("close", func(t *testing.T) {
		root := t.TempDir()
		s, f := openEpochs(t, root)
		put(t, s, "confirmed by Close\n")
		if err := s.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		if f.calls == 0 {
			t.Errorf("Close did not flush")
		}
		if links := recentLinks(t, s); len(links) != 0 {
			t.Errorf("recent links after Close = %q, want none", links)
		}
		if !exists(filepath.Join(s.base, variantsCleanMarker)) {
			t.Errorf("Close left no clean marker")
		}
	})
}

// TestEpochsWritesRacingClose: blobs acknowledged while Close runs are
// flushed too (by Close, or by a flush of their own once Close has begun),
// so a clean Close keeps every one of them.
func TestEpochsWritesRacingClose(t *testing.T) {
	root := t.TempDir()
	s, err := Open(context.Background(), Options{Root: root, forceEpochs: true, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	acked := make(chan digest.Digest, 4096)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				data := []byte(fmt.Sprintf("writer %d blob %d\n", w, i))
				d := digest.OfBytes(data)
				if s.Put(context.Background(), d, data) == nil {
					acked <- d
				}
			}
		}()
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	wg.Wait()
	close(acked)
	var ds []digest.Digest
	for d := range acked {
		ds = append(ds, d)
	}
	s2, _ := openEpochs(t, root)
	if missing := s2.FindMissing(context.Background(), ds); len(missing) != 0 {
		t.Errorf("%d of %d blobs acknowledged around Close are missing after it, first %s", len(missing), len(ds), missing[0])
	}
}
