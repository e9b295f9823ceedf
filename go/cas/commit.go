package cas

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

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
		return s.diskFullCode(err)
	}
	if err := place(t); err != nil {
		return s.diskFullCode(err)
	}
	t.gone = true
	return nil
}

// commitBlob commits t as blob d (see install), whose bytes t holds, and
// returns once the blob may be acknowledged (see awaitBlob). r holds
// d.Size bytes.
func (s *Store) commitBlob(ctx context.Context, t *stagedFile, r *reservation, d digest.Digest, k key) error {
	var e *entry
	var link string
	err := s.commit(t, r, blobMode, !s.epochs, func(t *stagedFile) (err error) {
		e, link, err = s.install(t, d, k, r)
		return err
	})
	if err != nil {
		return err
	}
	if link != "" && s.queueForFlush(ctx, e, link) {
		return nil
	}
	err = s.awaitBlob(ctx, e)
	if link != "" {
		_ = os.Remove(link)
	}
	return err
}

// queueForFlush hands the blob e, just renamed in with its recent link,
// to the background flush, unless Close has begun (then the caller waits
// for a flush of its own).
func (s *Store) queueForFlush(ctx context.Context, e *entry, link string) bool {
	s.mu.Lock()
	dur := e.dur
	s.mu.Unlock()
	return s.settleLater(unsettled{dur: dur, drop: s.dropBlob(ctx, e), link: link, acknowledged: true})
}

// install renames the finished file t, whose bytes hash to d, into place
// as blob d. It does not flush: commitBlob acknowledges the write only
// after awaitBlob, or hands it to the background flush. r holds d.Size
// bytes; on success (including when the blob already exists, in which case
// t is removed and the existing entry returned, with no link) it is used
// up, on error it is left to the caller.
//
// In epoch mode the file is first hard-linked under Root/cas/recent, and
// that link stays until a flush has confirmed the blob (settle): after a
// crash, the links name exactly the blobs whose bytes may not have reached
// the disk, which Open hashes again before serving anything. No clock is
// involved, so a wall clock that steps back cannot hide a blob from that
// check. The link is made before the rename, and a journaling filesystem
// (the only kind epochs run on) commits metadata changes in order: if the
// rename survives a crash, so does the link. Strict mode writes the bytes
// to disk (Options.StrictFsync) before the rename, and acknowledges after
// the flush that follows it, so it needs no links.
//
// The rename runs outside mu, which concurrent writers would otherwise
// queue on, under the key's installMu instead: only install adds a blob to
// the index, so while it holds installMu nothing can index this key, and
// so nothing (eviction, a drop) can unlink the path between the check and
// the rename.
func (s *Store) install(t *stagedFile, d digest.Digest, k key, r *reservation) (*entry, string, error) {
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
			return e, "", nil
		}
		// The indexed file has the wrong size for its hash: it is corrupt
		// (found so at Open); the verified bytes replace it.
		s.dropLocked(e, false)
	}
	s.mu.Unlock()
	if err := ensureShard(&s.blobShards, d.Hash, s.Path(d)); err != nil {
		return nil, "", err
	}
	var link string
	if s.epochs {
		// Unique per write: the blob may be dropped and written again
		// before the first write's link goes.
		link = filepath.Join(s.recentDir, fmt.Sprintf("%s-%d", d.Hash, s.recentSeq.Add(1)))
		if err := os.Link(t.path, link); err != nil {
			return nil, "", err
		}
	}
	if err := os.Rename(t.path, s.Path(d)); err != nil {
		if link != "" {
			_ = os.Remove(link)
		}
		return nil, "", err
	}
	e := &entry{key: k, size: d.Size, dur: &durability{epoch: t.epoch, pending: true}}
	if fi, err := os.Lstat(s.Path(d)); err == nil {
		// Left zero on failure, which only costs a hash at first use.
		e.stamp = stampOf(fi)
	}
	s.mu.Lock()
	s.index[k] = e
	s.lru.pushFront(e)
	r.useLocked()
	s.bytes += d.Size
	s.mu.Unlock()
	return e, link, nil
}
