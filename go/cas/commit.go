package cas

import (
	"context"
	"os"

	"github.com/actiond/actiond/go/digest"
)

// commit is how every write ends, that of a blob (commitBlob) or of an
// executable variant (makeExec): it finishes t (with sync, writing its
// bytes to disk first) and hands it to place, which renames it into the
// store and uses up r. Whatever fails, r is released and a temp file
// removed, so no write path has cleanup of its own to get right.
func (s *Store) commit(t *stagedFile, r *reservation, mode os.FileMode, sync bool, place func(*stagedFile) error) error {
	defer r.Release()
	defer t.discard()
	if err := t.finish(mode, sync); err != nil {
		return err
	}
	if err := place(t); err != nil {
		return err
	}
	t.gone = true
	return nil
}

// commitBlob commits t as blob d (see install), whose bytes t holds, and
// returns once the blob is on disk (see awaitBlob). r holds d.Size bytes.
func (s *Store) commitBlob(ctx context.Context, t *stagedFile, r *reservation, d digest.Digest, k key) error {
	var e *entry
	err := s.commit(t, r, blobMode, s.strict, func(t *stagedFile) (err error) {
		e, err = s.install(t, d, k, r)
		return err
	})
	if err != nil {
		return err
	}
	return s.awaitBlob(ctx, e)
}

// install renames the finished file t, whose bytes hash to d, into place
// as blob d. It does not flush: commitBlob acknowledges the write only
// after awaitBlob on the returned entry. r holds d.Size bytes; on success
// (including when the blob already exists, in which case t is removed and
// the existing entry returned) it is used up, on error it is left to the
// caller.
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
func (s *Store) install(t *stagedFile, d digest.Digest, k key, r *reservation) (*entry, error) {
	l := &s.installMu[k[0]]
	l.Lock()
	defer l.Unlock()
	s.mu.Lock()
	if e := s.index[k]; e != nil {
		if e.size == d.Size {
			r.useLocked()
			s.touchLocked(e)
			s.mu.Unlock()
			_ = os.Remove(t.path)
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
	if err := os.Rename(t.path, s.Path(d)); err != nil {
		return nil, err
	}
	e := &entry{key: k, size: d.Size, dur: &durability{epoch: t.epoch, pending: true}}
	s.mu.Lock()
	s.index[k] = e
	s.lru.pushFront(e)
	r.useLocked()
	s.bytes += d.Size
	s.mu.Unlock()
	return e, nil
}
