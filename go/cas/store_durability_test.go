package cas

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/digest"
)

// openStalled opens a store in strict mode (a flush before each
// acknowledgement) whose flushes the test controls.
func openStalled(t *testing.T) (*Store, *stalledFlush, string) {
	t.Helper()
	root := t.TempDir()
	s, err := Open(context.Background(), Options{Root: root, StrictFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := newStalledFlush()
	s.syncer.mu.Lock()
	s.syncer.flush = f.flush
	s.syncer.mu.Unlock()
	return s, f, root
}

func keyFor(t *testing.T, d digest.Digest) key {
	t.Helper()
	k, ok := keyOf(d)
	if !ok {
		t.Fatalf("malformed digest %s", d)
	}
	return k
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestRenameThenFlushThenAcknowledge checks the order of every write path:
// the blob's file is in place when the flush starts, and the write returns
// only after the flush has ended.
func TestRenameThenFlushThenAcknowledge(t *testing.T) {
	data := []byte("durable bytes\n")
	d := digest.OfBytes(data)
	// fromFile stores data by writing it to a file and calling store.
	fromFile := func(store func(*Store, context.Context, string) (digest.Digest, error)) func(*testing.T, *Store, string) error {
		return func(t *testing.T, s *Store, root string) error {
			p := filepath.Join(root, "out")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
			_, err := store(s, context.Background(), p)
			return err
		}
	}
	tests := []struct {
		name  string
		store func(t *testing.T, s *Store, root string) error
	}{
		{
			name:  "Put",
			store: func(t *testing.T, s *Store, _ string) error { return s.Put(context.Background(), d, data) },
		},
		{
			name:  "Writer",
			store: func(t *testing.T, s *Store, _ string) error { return writeAll(s, d, data) },
		},
		{name: "MoveFile", store: fromFile(func(s *Store, ctx context.Context, p string) (digest.Digest, error) {
			return s.MoveFile(ctx, p, s.FlushFailures())
		})},
		{name: "CopyFile", store: fromFile((*Store).CopyFile)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, f, root := openStalled(t)
			done := f.async(func() error { return tc.store(t, s, root) })
			waitStarted(t, f, 1)
			if !exists(s.Path(d)) {
				t.Fatalf("blob file is not in place when the flush starts")
			}
			f.release <- nil
			if err := wantFlushed(t, tc.name, done, 1); err != nil {
				t.Fatalf("%s = %v, want nil", tc.name, err)
			}
			if got := s.Stats().Syncs; got != 2 { // Open's flush and this one
				t.Errorf("Stats.Syncs = %d, want 2", got)
			}
		})
	}
}

// TestExecutableVariantIsSettledInTheBackground: LinkExecutable hands out a
// new variant (a copy of a durable blob) without waiting for a flush, which
// then runs in the background; if that flush fails the variant is dropped
// and the next call makes it again.
func TestExecutableVariantIsSettledInTheBackground(t *testing.T) {
	data := []byte("#!/bin/sh\necho durable\n")
	d := digest.OfBytes(data)
	for _, tc := range []struct {
		name     string
		flushErr error
		kept     bool
	}{
		{"flush succeeds", nil, true},
		{"flush fails", errors.New("injected writeback error"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, f, _ := openStalled(t)
			done := f.async(func() error { return s.Put(context.Background(), d, data) })
			waitStarted(t, f, 1)
			f.release <- nil
			if err := wantResult(t, "Put", done); err != nil {
				t.Fatal(err)
			}
			p, unpin, err := s.LinkExecutable(context.Background(), d)
			if err != nil || p != s.execPath(d) {
				t.Fatalf("LinkExecutable = %q, %v; want %q, nil without waiting for a flush", p, err, s.execPath(d))
			}
			unpin()
			waitStarted(t, f, 2)
			f.release <- tc.flushErr
			s.settlers.Wait() // the background check has given its verdict
			if got := exists(s.execPath(d)); got != tc.kept {
				t.Fatalf("variant exists after the flush = %v, want %v", got, tc.kept)
			}
			wantBytes := map[bool]int64{true: 2 * d.Size, false: d.Size}[tc.kept]
			if got := s.Stats().Bytes; got != wantBytes {
				t.Errorf("Stats().Bytes after the verdict = %d, want %d", got, wantBytes)
			}
			s.mu.Lock()
			e := s.index[keyFor(t, d)]
			hasExec, dur := e.hasExec, e.execDur
			s.mu.Unlock()
			if hasExec != tc.kept || dur != nil && dur.pending {
				t.Errorf("entry after the verdict: hasExec %v, execDur %+v; want hasExec %v and a verdict", hasExec, dur, tc.kept)
			}
			if tc.kept {
				return
			}
			p, unpin, err = s.LinkExecutable(context.Background(), d)
			if err != nil || !exists(p) {
				t.Fatalf("LinkExecutable after the drop = %q, %v; want the variant made again", p, err)
			}
			unpin()
			waitStarted(t, f, 3)
			f.release <- nil
		})
	}
}

// TestStoredButPendingBlobIsNotAcknowledgedEarly: a writer that finds the
// blob already renamed in by another, still flushing writer must wait too.
func TestStoredButPendingBlobIsNotAcknowledgedEarly(t *testing.T) {
	ctx := context.Background()
	data := []byte("written twice\n")
	d := digest.OfBytes(data)
	s, f, root := openStalled(t)
	first := f.async(func() error { return s.Put(ctx, d, data) })
	waitStarted(t, f, 1)
	p := filepath.Join(root, "out")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dups := map[string]<-chan result{
		"Put":           f.async(func() error { return s.Put(ctx, d, data) }),
		"MoveFile":      f.async(func() error { _, err := s.MoveFile(ctx, p, s.FlushFailures()); return err }),
		"Writer.Commit": f.async(func() error { return writeAll(s, d, data) }),
	}
	// They find the blob renamed in but not flushed, and so wait for
	// the next flush.
	registered(t, s.syncer, len(dups))
	f.release <- nil
	if err := wantFlushed(t, "the first Put", first, 1); err != nil {
		t.Fatal(err)
	}
	waitStarted(t, f, 2)
	f.release <- nil
	for name, ch := range dups {
		if err := wantFlushed(t, name, ch, 2); err != nil {
			t.Errorf("%s of a blob stored meanwhile = %v, want nil", name, err)
		}
	}
	// Now durable: no more flushes.
	syncs := s.Stats().Syncs
	if err := s.Put(ctx, d, data); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Syncs; got != syncs {
		t.Errorf("Put of a durable blob flushed (%d flushes, want %d)", got, syncs)
	}
}

func writeAll(s *Store, d digest.Digest, data []byte) error {
	w, err := s.NewWriter(context.Background(), d)
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Commit()
}

// TestFailedFlushRemovesTheBlob: the writers waiting for a failed flush
// get INTERNAL, and the blob they renamed in is removed rather than left
// visible but unacknowledged; so does a writer that joined it later.
func TestFailedFlushRemovesTheBlob(t *testing.T) {
	ctx := context.Background()
	data := []byte("lost to a bad disk\n")
	d := digest.OfBytes(data)
	s, f, _ := openStalled(t)
	first := f.async(func() error { return s.Put(ctx, d, data) })
	waitStarted(t, f, 1)
	second := f.async(func() error { return s.Put(ctx, d, data) })
	registered(t, s.syncer, 1)
	f.release <- errors.New("input/output error")
	if err := wantResult(t, "Put", first); status.Code(err) != codes.Internal {
		t.Errorf("Put with a failed flush = %v, want INTERNAL", err)
	}
	waitStarted(t, f, 2)
	f.release <- nil
	if err := wantResult(t, "Put", second); status.Code(err) != codes.Internal {
		t.Errorf("Put of the same blob = %v, want INTERNAL (its only copy failed to flush)", err)
	}
	if s.Contains(ctx, d) {
		t.Errorf("Contains = true after the flush failed, want false")
	}
	if exists(s.Path(d)) {
		t.Errorf("blob file is still there after the flush failed")
	}
	if st := s.Stats(); st.SyncFailures != 1 || st.Bytes != 0 {
		t.Errorf("Stats = %+v, want SyncFailures 1 and Bytes 0", st)
	}

	// Storing it again works.
	again := f.async(func() error { return s.Put(ctx, d, data) })
	waitStarted(t, f, 3)
	f.release <- nil
	if err := wantResult(t, "Put", again); err != nil {
		t.Fatalf("Put after the failure = %v", err)
	}
	if !s.Contains(ctx, d) || !exists(s.Path(d)) {
		t.Errorf("blob missing after a successful Put")
	}
}

// TestFlushFailureWhileWritingFailsTheWrite: a writeback error is reported
// to one flush only, perhaps one that ran for somebody else while this
// blob's bytes were being written; its own successful flush later does not
// make it durable.
func TestFlushFailureWhileWritingFailsTheWrite(t *testing.T) {
	ctx := context.Background()
	data := []byte("bytes written while a flush failed\n")
	d := digest.OfBytes(data)
	s, f, root := openStalled(t)
	w, err := s.NewWriter(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	other := []byte("another blob\n")
	done := f.async(func() error { return s.Put(ctx, digest.OfBytes(other), other) })
	waitStarted(t, f, 1)
	f.release <- errors.New("input/output error")
	if err := wantResult(t, "Put", done); status.Code(err) != codes.Internal {
		t.Fatalf("Put with a failed flush = %v, want INTERNAL", err)
	}
	done = f.async(w.Commit)
	waitStarted(t, f, 2)
	f.release <- nil
	if err := wantResult(t, "Commit", done); status.Code(err) != codes.Internal {
		t.Errorf("Commit after a flush failed during the write = %v, want INTERNAL", err)
	}
	if s.Contains(ctx, d) || exists(s.Path(d)) {
		t.Errorf("blob kept after a flush failed during its write")
	}
	if n, _ := os.ReadDir(filepath.Join(root, "cas", "tmp")); len(n) != 0 {
		t.Errorf("temp files left: %v", n)
	}
}

// TestCancelledWaitLeavesTheVerdictToTheNextWriter: a caller that stops
// waiting gets CANCELLED, and the blob stays for the next writer to confirm.
func TestCancelledWaitLeavesTheVerdictToTheNextWriter(t *testing.T) {
	data := []byte("abandoned wait\n")
	d := digest.OfBytes(data)
	s, f, _ := openStalled(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := f.async(func() error { return s.Put(ctx, d, data) })
	waitStarted(t, f, 1)
	cancel()
	if err := wantResult(t, "Put", done); status.Code(err) != codes.Canceled {
		t.Errorf("cancelled Put = %v, want CANCELLED", err)
	}
	f.release <- nil
	done = f.async(func() error { return s.Put(context.Background(), d, data) })
	waitStarted(t, f, 2)
	f.release <- nil
	if err := wantResult(t, "Put", done); err != nil {
		t.Errorf("Put after a cancelled one = %v, want nil", err)
	}
}

// TestConcurrentWritesShareOneFlush: 100 writes that arrive while a flush
// runs (a BatchUpdateBlobs, or an action's outputs stored in parallel) are
// all acknowledged by the one next flush, which is a real syncfs.
func TestConcurrentWritesShareOneFlush(t *testing.T) {
	const n = 100
	tests := []struct {
		name  string
		write func(s *Store, root string, i int) (digest.Digest, error)
	}{
		{"Put", func(s *Store, _ string, i int) (digest.Digest, error) {
			data := []byte(fmt.Sprintf("shared flush %d", i))
			d := digest.OfBytes(data)
			return d, s.Put(context.Background(), d, data)
		}},
		{"MoveFile", func(s *Store, root string, i int) (digest.Digest, error) {
			p := filepath.Join(root, fmt.Sprintf("out-%d", i))
			if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
				return digest.Digest{}, err
			}
			return s.MoveFile(context.Background(), p, s.FlushFailures())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, f, root := openStalled(t)
			s.syncer.mu.Lock()
			s.syncer.flush = func() error {
				if err := f.flush(); err != nil {
					return err
				}
				return s.flush()
			}
			s.syncer.mu.Unlock()
			// A write whose flush is running when the 100 arrive.
			primer := f.async(func() error { return s.Put(context.Background(), digest.OfBytes([]byte("primer")), []byte("primer")) })
			waitStarted(t, f, 1)
			syncs := s.Stats().Syncs
			ds := make([]digest.Digest, n)
			errs := make([]<-chan result, n)
			for i := range n {
				errs[i] = f.async(func() error {
					var err error
					ds[i], err = tc.write(s, root, i)
					return err
				})
			}
			registered(t, s.syncer, n)
			f.release <- nil
			if err := wantResult(t, "the primer", primer); err != nil {
				t.Fatal(err)
			}
			waitStarted(t, f, 2)
			f.release <- nil
			for i, ch := range errs {
				if err := wantResult(t, tc.name, ch); err != nil {
					t.Fatalf("write %d = %v", i, err)
				}
			}
			if got := s.Stats().Syncs - syncs; got != 2 {
				t.Errorf("flushes = %d, want 2 (the primer's and one for all %d writes)", got, n)
			}
			if missing := s.FindMissing(context.Background(), ds); len(missing) != 0 {
				t.Errorf("missing after the writes: %v", missing)
			}
		})
	}
}

// TestStrictModeVariantsAfterCrash: in strict mode executable variants are
// not fsynced, so they are kept across a reopen only after a clean Close;
// after a crash (no Close) they are all removed, and made again on demand,
// while the blobs stay.
func TestStrictModeVariantsAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cleanStop bool
	}{
		{"clean Close keeps them", true},
		{"crash drops them", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			opts := Options{Root: root, MaxBytes: 1 << 20, StrictFsync: true}
			s, err := Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			data := []byte("#!/bin/sh\necho variant\n")
			d := digest.OfBytes(data)
			if err := s.Put(ctx, d, data); err != nil {
				t.Fatal(err)
			}
			variant, unpin, err := s.LinkExecutable(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			unpin()
			if tc.cleanStop {
				if err := s.Close(); err != nil {
					t.Fatalf("Close = %v", err)
				}
			} else {
				s.abandon() // the process dies: no Close
			}
			s2, err := Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s2.Close() })
			if _, err := os.Stat(variant); (err == nil) != tc.cleanStop {
				t.Errorf("variant after reopen: %v; want it kept %v", err, tc.cleanStop)
			}
			if st, want := s2.Stats().Bytes, map[bool]int64{true: 2 * d.Size, false: d.Size}[tc.cleanStop]; st != want {
				t.Errorf("Stats().Bytes after reopen = %d, want %d", st, want)
			}
			if got, err := s2.ReadAll(ctx, d, 1<<20); err != nil || string(got) != string(data) {
				t.Errorf("blob after reopen = %q, %v", got, err)
			}
			p, unpin, err := s2.LinkExecutable(ctx, d)
			if err != nil || p != variant {
				t.Fatalf("LinkExecutable after reopen = %q, %v; want %q", p, err, variant)
			}
			unpin()
		})
	}
}

// abandon lets go of the store's root the way a dying process does: the
// descriptors close (releasing the flock) and nothing else happens.
func (s *Store) abandon() {
	s.mu.Lock()
	s.unsettled = nil // the background flush dies with the process
	s.mu.Unlock()
	s.wakeSettle()
	s.settlers.Wait()
	s.baseMu.Lock()
	defer s.baseMu.Unlock()
	s.lock.Close()
	s.lock = nil
	s.baseDir.Close()
	s.baseDir = nil
}
