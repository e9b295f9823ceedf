package cas

import (
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// reservation is the space promised to one in-flight write of blob d (or
// of its executable variant), counted in Store.reserved until the write
// lands or gives up. install (or installExec) uses it up when the file is
// renamed into place; Release gives back whatever is still held. Release
// is idempotent and a nil reservation holds nothing, so a write defers
// Release once instead of releasing on each of its error paths. A
// reservation belongs to one write and is not safe for concurrent use.
type reservation struct {
	s *Store
	d digest.Digest // named in RESOURCE_EXHAUSTED errors
	n int64         // bytes held
}

// growLocked reserves n more bytes, evicting least recently used unpinned
// blobs as needed. s.mu is held.
func (r *reservation) growLocked(n int64) error {
	if err := r.s.reserveLocked(r.d, n); err != nil {
		return err
	}
	r.n += n
	return nil
}

// grow is growLocked taking s.mu.
func (r *reservation) grow(n int64) error {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.growLocked(n)
}

// useLocked turns the reserved bytes over to the file just installed,
// which counts them from now on (or to nothing, when the blob was already
// there). s.mu is held.
func (r *reservation) useLocked() {
	r.s.reserved -= r.n
	r.n = 0
}

// Release gives back the bytes still held. Calling it again, or after the
// reservation was used up, does nothing.
func (r *reservation) Release() {
	if r == nil || r.n == 0 {
		return
	}
	r.s.mu.Lock()
	r.useLocked()
	r.s.mu.Unlock()
}

// reserveLocked promises n bytes to a write, evicting least recently used
// unpinned blobs as needed. Only reservation calls it.
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

// reserveUnlessStored returns the entry of blob d, counting the call as a
// use, if the store holds it; otherwise a reservation of d.Size bytes for
// writing it.
func (s *Store) reserveUnlessStored(d digest.Digest) (*entry, *reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.lookupLocked(d); ok {
		s.touchLocked(e)
		return e, nil, nil
	}
	r := &reservation{s: s, d: d}
	if err := r.growLocked(d.Size); err != nil {
		return nil, nil, err
	}
	return nil, r, nil
}
