package cas

import (
	"os"

	"github.com/actiond/actiond/go/digest"
)

// install renames the verified file src into place as blob d. It does not
// flush: the caller acknowledges the write only after awaitBlob on the
// returned entry. epoch is the groupSyncer.failureEpoch the caller sampled
// before writing src's bytes. The caller must have reserved d.Size bytes; on
// success (including when the blob already exists, in which case src is
// removed and the existing entry returned) the reservation is used up, on
// error it is left to the caller.
//
// Renaming before the flush cannot expose a torn blob after a crash: a
// crash may lose the rename (the blob is then simply missing) or keep it
// with the file's bytes only partly on disk. On ext4 in its default
// data=ordered mode the on-disk size (i_disksize) is only raised in the
// journal transaction that commits after the data blocks it covers were
// written, and xfs and btrfs likewise raise it only at I/O completion; so
// such a file comes back empty or short, never with stale blocks inside its
// size. Open indexes it with its short size, which no digest (whose size
// is part of it) matches, and Get checks the file's size against the
// digest at every open and drops a mismatch as damaged: the size checks are
// what makes this order safe, which is why they stay. Filesystems without
// that ordering get Options.StrictFsync (Open forces it), which writes the
// bytes to disk before the rename.
//
// The rename runs outside mu, which concurrent writers would otherwise
// queue on, under the key's installMu instead: only install adds a blob to
// the index, so while it holds installMu nothing can index this key, and
// so nothing (eviction, a drop) can unlink the path between the check and
// the rename.
func (s *Store) install(src string, d digest.Digest, k key, epoch int64) (*entry, error) {
	l := &s.installMu[k[0]]
	l.Lock()
	defer l.Unlock()
	s.mu.Lock()
	if e := s.index[k]; e != nil {
		if e.size == d.Size {
			s.reserved -= d.Size
			s.touchLocked(e)
			s.mu.Unlock()
			_ = os.Remove(src)
			return e, nil
		}
		// The indexed file has the wrong size for its hash: it is corrupt
		// (found so at Open); the verified bytes replace it.
		s.dropLocked(e, false)
	}
	s.mu.Unlock()
	if err := ensureShard(&s.blobShards, d.Hash, s.Path(d)); err != nil {
		return nil, err
	}
	if err := os.Rename(src, s.Path(d)); err != nil {
		return nil, err
	}
	e := &entry{key: k, size: d.Size, dur: &durability{epoch: epoch, pending: true}}
	s.mu.Lock()
	s.index[k] = e
	s.lru.pushFront(e)
	s.reserved -= d.Size
	s.bytes += d.Size
	s.mu.Unlock()
	return e, nil
}
