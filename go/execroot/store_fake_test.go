package execroot_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// fakeStore is a minimal on-disk CAS with the semantics execroot relies on:
// blob files of mode 0444 that can be hard-linked, 0555 executable variants,
// pin counting. It stands in for go/cas until that package lands.
type fakeStore struct {
	dir  string
	mu   sync.Mutex
	pins map[digest.Digest]int
}

func newStore(t testing.TB) *fakeStore {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"b", "x"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &fakeStore{dir: dir, pins: make(map[digest.Digest]int)}
}

func (s *fakeStore) Path(d digest.Digest) string { return filepath.Join(s.dir, "b", d.FileName()) }

func (s *fakeStore) ReadAll(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	b, err := os.ReadFile(s.Path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
	}
	if int64(len(b)) > limit {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "blob %s too large", d)
	}
	return b, err
}

func (s *fakeStore) has(d digest.Digest) bool {
	_, err := os.Stat(s.Path(d))
	return err == nil
}

func (s *fakeStore) FindMissing(ctx context.Context, ds []digest.Digest) []digest.Digest {
	var missing []digest.Digest
	for _, d := range ds {
		if !s.has(d) {
			missing = append(missing, d)
		}
	}
	return missing
}

func (s *fakeStore) Pin(ctx context.Context, d digest.Digest) (func(), error) {
	if !s.has(d) {
		return nil, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
	}
	s.mu.Lock()
	s.pins[d]++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.pins[d]--
			s.mu.Unlock()
		})
	}, nil
}

func (s *fakeStore) pinned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.pins {
		n += c
	}
	return n
}

func (s *fakeStore) execPath(d digest.Digest) string {
	return filepath.Join(s.dir, "x", d.FileName())
}

func (s *fakeStore) LinkExecutable(ctx context.Context, d digest.Digest) (string, func(), error) {
	unpin, err := s.Pin(ctx, d)
	if err != nil {
		return "", nil, err
	}
	x := s.execPath(d)
	if _, err := os.Stat(x); err != nil {
		b, err := os.ReadFile(s.Path(d))
		if err != nil {
			unpin()
			return "", nil, err
		}
		if err := os.WriteFile(x, b, 0o555); err != nil {
			unpin()
			return "", nil, err
		}
	}
	return x, unpin, nil
}

func (s *fakeStore) PutFile(ctx context.Context, path string, move bool) (digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return digest.Digest{}, err
	}
	d, err := digest.OfReader(f)
	f.Close()
	if err != nil {
		return digest.Digest{}, err
	}
	if s.has(d) {
		if move {
			os.Remove(path)
		}
		return d, nil
	}
	if move {
		if err := os.Chmod(path, 0o444); err != nil {
			return digest.Digest{}, err
		}
		return d, os.Rename(path, s.Path(d))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return digest.Digest{}, err
	}
	return d, s.Put(ctx, d, b)
}

func (s *fakeStore) Put(ctx context.Context, d digest.Digest, data []byte) error {
	if digest.OfBytes(data) != d {
		return rpcstatus.Newf(codes.InvalidArgument, "digest mismatch")
	}
	tmp := s.Path(d) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o444); err != nil {
		return err
	}
	return os.Rename(tmp, s.Path(d))
}
