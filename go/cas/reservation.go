package cas

import (
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// reserveLocked promises n bytes to a write, evicting least recently used
// unpinned blobs as needed.
func (s *Store) reserveLocked(d digest.Digest, n int64) error {
	if n > s.max {
		return rpcstatus.Newf(codes.ResourceExhausted, "blob %s: %d bytes exceed the store's limit of %d bytes", d, n, s.max)
	}
	for s.bytes+s.reserved+n > s.max {
		e := s.lru.back()
		if e == nil {
			return rpcstatus.Newf(codes.ResourceExhausted,
				"blob %s: store is full: %d bytes stored and %d reserved by in-flight writes, limit %d bytes, and every stored blob is in use",
				d, s.bytes, s.reserved, s.max)
		}
		s.evictLocked(e)
	}
	s.reserved += n
	return nil
}

// reserve is reserveLocked taking s.mu.
func (s *Store) reserve(d digest.Digest, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserveLocked(d, n)
}

func (s *Store) unreserve(n int64) {
	s.mu.Lock()
	s.reserved -= n
	s.mu.Unlock()
}
