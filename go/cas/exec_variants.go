package cas

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// LinkExecutable returns the path of an executable (mode 0555) copy of blob
// d, for inputs with is_executable set: blobs are stored 0444, and since a
// hard link shares its mode, the executor links executable inputs to this
// variant instead. The variant lives at Root/cas/sha256x/<2hex>/<64hex>, is
// made on first use (a reflink where the filesystem supports it, else a
// copy), counts against MaxBytes like a blob and is evicted with d. d stays
// pinned until unpin is called. NOT_FOUND if the store does not hold d.
func (s *Store) LinkExecutable(ctx context.Context, d digest.Digest) (path string, unpin func(), err error) {
	paths, unpins, err := s.LinkExecutables(ctx, []digest.Digest{d})
	if err != nil {
		return "", nil, err
	}
	if paths[0] == "" {
		return "", nil, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
	}
	return paths[0], unpins[0], nil
}

// LinkExecutables is LinkExecutable for many blobs. For a blob the store
// does not hold, paths[i] is "" and unpins[i] nil. On error nothing stays
// pinned.
//
// Unlike a blob, a new variant is returned before it is flushed to disk:
// it is a copy of a blob the store holds, so nothing a client sent is at
// stake, and waiting would cost a filesystem flush per input tree (Bazel
// marks every input executable, so a cold tree makes a variant per file),
// with everything other processes wrote to the filesystem in that flush.
// After a crash the store drops variants it cannot trust when it opens
// (short ones; in strict mode all, see variantsCleanMarker); a variant
// whose flush fails is dropped then (see settle), while actions already
// running keep the page cache's correct bytes.
func (s *Store) LinkExecutables(ctx context.Context, ds []digest.Digest) (paths []string, unpins []func(), err error) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, nil, rpcstatus.Newf(codes.Unavailable, "cas: the store is closing")
	}
	s.makers.Add(1)
	s.mu.Unlock()
	defer s.makers.Done()
	unpins = make([]func(), len(ds))
	fail := func(err error) ([]string, []func(), error) {
		for _, u := range unpins {
			if u != nil {
				u()
			}
		}
		return nil, nil, err
	}
	for i, d := range ds {
		if err := ctx.Err(); err != nil {
			return fail(rpcstatus.FromContext(ctx))
		}
		e, err := s.pinDigest(d)
		if rpcstatus.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return fail(err)
		}
		unpins[i] = s.unpinFunc(e)
		r := &reservation{s: s, d: d}
		s.mu.Lock()
		exists := e.hasExec
		if exists && !s.variantIntactLocked(e, d) {
			s.dropVariantLocked(e, d)
			exists = false
		}
		if !exists {
			err = r.growLocked(d.Size)
		}
		s.mu.Unlock()
		if err != nil {
			return fail(err)
		}
		if exists {
			continue
		}
		dur, made, err := s.makeExec(d, e, r)
		if err != nil {
			if rpcstatus.Code(err) == codes.NotFound {
				// Its file is gone (or it was dropped as damaged meanwhile):
				// missing, like an absent blob, and out of the index, so
				// that the client's upload of it is stored again.
				unpins[i]()
				unpins[i] = nil
				s.forget(ctx, e, d, "file is gone")
				continue
			}
			return fail(rpcstatus.Wrapf(err, "blob %s: making executable copy", d))
		}
		if made {
			s.settleLater(unsettled{dur: dur, drop: s.dropExec(e, dur)})
		}
	}
	paths = make([]string, len(ds))
	for i, d := range ds {
		if unpins[i] != nil {
			paths[i] = s.execPath(d)
		}
	}
	return paths, unpins, nil
}

// variantIntactLocked reports whether e's executable variant is still the
// file the store made: the variant is a copy with an inode of its own, so
// it needs a check of its own. One lstat, under mu: it runs once per
// executable input of a tree being built.
func (s *Store) variantIntactLocked(e *entry, d digest.Digest) bool {
	fi, err := os.Lstat(s.execPath(d))
	return err == nil && s.looksIntact(fi, d.Size, e.execStamp, execMode)
}

// dropVariantLocked removes e's executable variant, found changed on disk;
// the next LinkExecutables makes it again from the (verified) blob.
func (s *Store) dropVariantLocked(e *entry, d digest.Digest) {
	_ = os.Remove(s.execPath(d))
	e.hasExec = false
	e.execDur = nil
	s.bytes -= e.size
	s.logger.LogAttrs(context.Background(), slog.LevelWarn, "cas: dropped an executable variant changed on disk", slog.String("digest", d.String()))
}

// FlushFailures counts the filesystem flushes that failed since the store
// opened. Files written before a failure may have lost their bytes: blobs
// are then dropped and their writers told, and so are executable variants,
// which LinkExecutables hands out before their flush; a caller keeping
// links to variants should stop using those made before the count changed.
func (s *Store) FlushFailures() int64 { return s.syncer.failureEpoch() }

// makeExec creates the executable variant of the pinned entry e and returns
// its durability state, and whether this call made it (rather than a
// concurrent one). r holds d.Size bytes; it is used up on success and
// released otherwise.
func (s *Store) makeExec(d digest.Digest, e *entry, r *reservation) (dur *durability, made bool, err error) {
	defer r.Release()
	src, err := os.Open(s.Path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, rpcstatus.Newf(codes.NotFound, "blob %s not found (its file is gone)", d)
	}
	if err != nil {
		return nil, false, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, false, err
	}
	if err := s.verifyOpen(context.Background(), e, d, src, fi); err != nil {
		return nil, false, err
	}
	t, err := s.createTemp()
	if err != nil {
		return nil, false, err
	}
	defer t.discard()
	err = s.copyFull(t.f, src, d.Size, func(dst, src *os.File) error {
		if err := cloneFile(dst, src); err == nil {
			return nil
		}
		_, err := io.Copy(dst, src)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if fi, err := t.f.Stat(); err != nil || fi.Size() != d.Size {
		return nil, false, rpcstatus.Newf(codes.Internal, "copy has the wrong size")
	}
	// Variants are trusted across restarts only after a clean Close
	// (variantsCleanMarker), so they need no fdatasync of their own, unless
	// flushes cannot report a failed write.
	sync := !flushReportsWriteErrors
	err = s.commit(t, r, execMode, sync, func(t *stagedFile) (err error) {
		dur, made, err = s.installExec(t, d, e, r)
		return err
	})
	return dur, made, err
}

// installExec renames the finished file t into place as the executable
// variant of the pinned entry e, using up r, unless a concurrent call
// made the variant first (then t is removed, r used up all the same, and
// made is false). Unlike a blob's install it runs under mu: the variant
// belongs to e, which must still be in the index.
func (s *Store) installExec(t *stagedFile, d digest.Digest, e *entry, r *reservation) (dur *durability, made bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.index[e.key] != e {
		// Dropped as damaged meanwhile.
		return nil, false, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
	}
	if e.hasExec {
		// Another caller made the variant first.
		r.useLocked()
		_ = os.Remove(t.path)
		return e.execDur, false, nil
	}
	if err := ensureShard(&s.execShards, d.Hash, s.execPath(d)); err != nil {
		return nil, false, err
	}
	if err := os.Rename(t.path, s.execPath(d)); err != nil {
		return nil, false, err
	}
	e.hasExec = true
	e.execDur = &durability{epoch: t.epoch, pending: true}
	e.execStamp = stamp{}
	if fi, err := os.Lstat(s.execPath(d)); err == nil {
		e.execStamp = stampOf(fi)
	}
	r.useLocked()
	s.bytes += d.Size
	return e.execDur, true, nil
}

// variantsCleanMarker, in the store's directory, says that the executable
// variants on disk were all flushed when the last process closed the store.
// A variant is not fdatasynced (it is a copy of a durable blob, and an
// fdatasync per variant would make a cold input tree wait for the disk
// once per file) nor linked under recent/, so after a crash one could hold
// garbage within its size; without the marker Open removes them all, and
// they are made again on demand.
const variantsCleanMarker = "variants-clean"

// dropUntrustedVariants removes the executable variants unless the last
// Close marked them clean. The marker goes either way, so that a crash
// from now on leaves none; Open's flush makes that removal durable before
// any new variant is made.
func (s *Store) dropUntrustedVariants() error {
	marker := filepath.Join(s.base, variantsCleanMarker)
	err := os.Remove(marker)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rpcstatus.Wrapf(err, "cas: removing %s", marker)
	}
	if err == nil { // marked clean
		return nil
	}
	if err := os.RemoveAll(s.execDir); err != nil {
		return rpcstatus.Wrapf(err, "cas: removing executable variants not known to be on disk")
	}
	if err := os.MkdirAll(s.execDir, 0o700); err != nil {
		return rpcstatus.Wrapf(err, "cas: creating store directories")
	}
	return nil
}

// markVariantsClean flushes the filesystem, so that every variant is on
// disk, then writes variantsCleanMarker and flushes again.
func (s *Store) markVariantsClean() error {
	if err := s.flush(); err != nil {
		return rpcstatus.Wrapf(err, "cas: flushing executable variants")
	}
	marker := filepath.Join(s.base, variantsCleanMarker)
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return rpcstatus.Wrapf(err, "cas: writing %s", marker)
	}
	if err := s.flush(); err != nil {
		_ = os.Remove(marker)
		return rpcstatus.Wrapf(err, "cas: flushing %s", marker)
	}
	return nil
}
