package cas

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// key is the binary SHA-256 of a blob. Keys are 32 bytes rather than the
// 64-character hex string to halve the index's memory.
type key [32]byte

func keyOf(d digest.Digest) (key, bool) {
	var k key
	if len(d.Hash) != 2*len(k) {
		return k, false
	}
	if _, err := hex.Decode(k[:], []byte(d.Hash)); err != nil {
		return k, false
	}
	return k, true
}

// entry is one blob in the index. While pins > 0 the entry is not on the LRU
// list, which is what keeps it from eviction and makes eviction O(1).
type entry struct {
	key     key
	size    int64
	hasExec bool // the sha256x/ executable variant exists
	pins    int
	// dur and execDur track whether the blob's file and its executable
	// variant are known to be on disk; nil means they are (or the variant
	// does not exist).
	dur, execDur *durability
	// stamp and execStamp are the blob's and the variant's files as the
	// store wrote (or last verified) them; see stamp.
	stamp, execStamp stamp
	// prev and next link the LRU list; the list head is the most recently used.
	prev, next *entry
}

// bytes is what the entry counts against MaxBytes.
func (e *entry) bytes() int64 {
	if e.hasExec {
		return 2 * e.size
	}
	return e.size
}

// lookupLocked returns the entry for d if the store holds a blob with d's
// hash and size.
func (s *Store) lookupLocked(d digest.Digest) (*entry, bool) {
	k, ok := keyOf(d)
	if !ok {
		return nil, false
	}
	e := s.index[k]
	if e == nil || e.size != d.Size {
		return nil, false
	}
	return e, true
}

func (s *Store) touchLocked(e *entry) {
	if e.pins == 0 {
		s.lru.moveToFront(e)
	}
}

func (s *Store) pinLocked(e *entry) {
	if e.pins == 0 {
		s.lru.remove(e)
	}
	e.pins++
}

func (s *Store) unpin(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.pins--
	if e.pins == 0 && s.index[e.key] == e {
		s.lru.pushFront(e)
	}
}

// unpinFunc returns a function that drops one pin on e, once.
func (s *Store) unpinFunc(e *entry) func() {
	var once sync.Once
	return func() { once.Do(func() { s.unpin(e) }) }
}

// dropLocked removes e from the index, and its files if remove is set.
func (s *Store) dropLocked(e *entry, remove bool) {
	if s.index[e.key] != e {
		return
	}
	delete(s.index, e.key)
	s.lru.remove(e)
	s.bytes -= e.bytes()
	if remove {
		d := digest.Digest{Hash: hex.EncodeToString(e.key[:]), Size: e.size}
		_ = os.Remove(s.Path(d))
		if e.hasExec {
			_ = os.Remove(s.execPath(d))
		}
	}
}

// evictLocked removes an unpinned blob to make room. Files are unlinked under
// the lock so that a concurrent writer of the same blob cannot have its fresh
// file unlinked by a stale eviction.
func (s *Store) evictLocked(e *entry) {
	s.dropLocked(e, true)
	s.evictions++
	s.logger.LogAttrs(context.Background(), slog.LevelDebug, "cas: evicted blob",
		slog.String("digest", hex.EncodeToString(e.key[:])), slog.Int64("size", e.size))
}

// pinDigest pins d or returns NOT_FOUND.
func (s *Store) pinDigest(d digest.Digest) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lookupLocked(d)
	if !ok {
		return nil, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
	}
	s.pinLocked(e)
	return e, nil
}

// forget drops a blob found damaged on disk.
func (s *Store) forget(ctx context.Context, e *entry, d digest.Digest, why string) {
	s.mu.Lock()
	s.dropLocked(e, true)
	s.mu.Unlock()
	s.logger.LogAttrs(ctx, slog.LevelWarn, "cas: dropped damaged blob", slog.String("digest", d.String()), slog.String("reason", why))
}
