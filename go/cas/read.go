package cas

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// Contains reports whether the store holds d (hash and size). It counts as a
// use of d for eviction.
func (s *Store) Contains(ctx context.Context, d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lookupLocked(d)
	if ok {
		s.touchLocked(e)
	}
	return ok
}

// FindMissing returns the digests in ds that the store does not hold, in
// their order in ds and without duplicates. Present digests count as used.
// Malformed digests are reported missing.
func (s *Store) FindMissing(ctx context.Context, ds []digest.Digest) []digest.Digest {
	keys := make([]key, len(ds))
	valid := make([]bool, len(ds))
	for i, d := range ds {
		keys[i], valid[i] = keyOf(d)
	}
	var missing []int
	s.mu.Lock()
	for i, d := range ds {
		if valid[i] {
			if e := s.index[keys[i]]; e != nil && e.size == d.Size {
				s.touchLocked(e)
				continue
			}
		}
		missing = append(missing, i)
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	out := make([]digest.Digest, 0, len(missing))
	seen := make(map[digest.Digest]bool, len(missing))
	for _, i := range missing {
		if !seen[ds[i]] {
			seen[ds[i]] = true
			out = append(out, ds[i])
		}
	}
	return out
}

// Pin keeps d from eviction until unpin is called (unpin is idempotent),
// for a caller that uses its file by Path. It returns NOT_FOUND if the
// store does not hold d, or if its file was changed on disk and no longer
// holds its bytes (the blob is then dropped).
func (s *Store) Pin(ctx context.Context, d digest.Digest) (unpin func(), err error) {
	e, err := s.pinDigest(d)
	if err != nil {
		return nil, err
	}
	if err := s.verifyPath(ctx, e, d); err != nil {
		s.unpin(e)
		return nil, err
	}
	return s.unpinFunc(e), nil
}

// Get opens blob d for reading. The Blob pins d until it is closed. A blob
// whose file is gone, or was changed on disk and no longer holds its
// bytes, is dropped and reported NOT_FOUND (see verifyOpen).
func (s *Store) Get(ctx context.Context, d digest.Digest) (*Blob, error) {
	e, err := s.pinDigest(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(s.Path(d))
	if err != nil {
		s.unpin(e)
		if errors.Is(err, fs.ErrNotExist) {
			s.forget(ctx, e, d, "file is gone")
			return nil, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
		}
		return nil, rpcstatus.Wrapf(err, "blob %s: opening", d)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		s.unpin(e)
		return nil, rpcstatus.Wrapf(err, "blob %s: stat", d)
	}
	if err := s.verifyOpen(ctx, e, d, f, fi); err != nil {
		_ = f.Close()
		s.unpin(e)
		return nil, err
	}
	return &Blob{f: f, size: d.Size, unpin: s.unpinFunc(e), s: s, e: e, d: d, stamp: s.stampOf(e)}, nil
}

// ReadAll returns the bytes of blob d. It fails with RESOURCE_EXHAUSTED if
// d.Size exceeds limit and NOT_FOUND if the store does not hold d.
func (s *Store) ReadAll(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "blob %s: %d bytes exceed the limit of %d bytes for reading into memory", d, d.Size, limit)
	}
	b, err := s.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	buf := make([]byte, d.Size)
	if _, err := io.ReadFull(b, buf); err != nil {
		return nil, rpcstatus.Wrapf(err, "blob %s: reading", d)
	}
	if err := b.Check(); err != nil {
		// Nothing was handed out yet: to the caller the blob is simply
		// gone (Check dropped it).
		return nil, rpcstatus.Newf(codes.NotFound, "blob %s not found (its file was changed on disk while it was read)", d)
	}
	return buf, nil
}
