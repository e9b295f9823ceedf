package execroot_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
)

// testStore is the real cas.Store in a temp dir, counting the pins execroot
// holds so tests can check that they are released, and the blobs it reads
// whole (Directory protos).
type testStore struct {
	*cas.Store
	mu    sync.Mutex
	pins  int
	reads atomic.Int64
	// failedFlushes is added to the store's FlushFailures, standing in for
	// a failed filesystem flush.
	failedFlushes atomic.Int64
}

func (s *testStore) FlushFailures() int64 { return s.Store.FlushFailures() + s.failedFlushes.Load() }

func (s *testStore) ReadAll(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	s.reads.Add(1)
	return s.Store.ReadAll(ctx, d, limit)
}

func newStore(t testing.TB) *testStore {
	t.Helper()
	s, err := cas.Open(context.Background(), cas.Options{Root: filepath.Join(t.TempDir(), "state"), MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testStore{Store: s}
}

func (s *testStore) counted(unpin func()) func() {
	s.mu.Lock()
	s.pins++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.pins--
			s.mu.Unlock()
			unpin()
		})
	}
}

func (s *testStore) Pin(ctx context.Context, d digest.Digest) (func(), error) {
	unpin, err := s.Store.Pin(ctx, d)
	if err != nil {
		return nil, err
	}
	return s.counted(unpin), nil
}

func (s *testStore) LinkExecutables(ctx context.Context, ds []digest.Digest) ([]string, []func(), error) {
	paths, unpins, err := s.Store.LinkExecutables(ctx, ds)
	if err != nil {
		return nil, nil, err
	}
	for i, u := range unpins {
		if u != nil {
			unpins[i] = s.counted(u)
		}
	}
	return paths, unpins, nil
}

func (s *testStore) pinned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pins
}

func (s *testStore) has(d digest.Digest) bool { return s.Contains(context.Background(), d) }

// execPath is where the store keeps d's executable variant.
func (s *testStore) execPath(t testing.TB, d digest.Digest) string {
	p, unpin, err := s.Store.LinkExecutable(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	unpin()
	return p
}
