package cas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// Put stores data as blob d. It fails with INVALID_ARGUMENT, storing
// nothing, if data does not hash to d. Storing a blob that exists succeeds.
func (s *Store) Put(ctx context.Context, d digest.Digest, data []byte) error {
	k, err := validKey(d)
	if err != nil {
		return err
	}
	if got := digest.OfBytes(data); got != d {
		return rpcstatus.Newf(codes.InvalidArgument, "data hashes to %s, want %s", got, d)
	}
	s.mu.Lock()
	if e, ok := s.lookupLocked(d); ok {
		s.touchLocked(e)
		s.mu.Unlock()
		return rpcstatus.Wrapf(s.awaitBlob(ctx, e), "blob %s", d)
	}
	err = s.reserveLocked(d, d.Size)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	e, err := s.putTemp(d, k, func(f *os.File) error { _, err := f.Write(data); return err })
	if err != nil {
		s.unreserve(d.Size)
		return rpcstatus.Wrapf(err, "blob %s", d)
	}
	return rpcstatus.Wrapf(s.awaitBlob(ctx, e), "blob %s", d)
}

// putTemp writes a temp file with fill, finishes and installs it. The caller
// has reserved d.Size bytes and releases them on error, and awaits the
// returned entry.
func (s *Store) putTemp(d digest.Digest, k key, fill func(*os.File) error) (*entry, error) {
	epoch := s.syncer.failureEpoch()
	f, err := s.createTemp()
	if err != nil {
		return nil, err
	}
	if err := fill(f); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	if err := s.finishTemp(f, blobMode); err != nil {
		return nil, err
	}
	e, err := s.install(f.Name(), d, k, epoch)
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, err
	}
	return e, nil
}

func validKey(d digest.Digest) (key, error) {
	if _, err := digest.New(d.Hash, d.Size); err != nil {
		return key{}, err
	}
	k, _ := keyOf(d)
	return k, nil
}

// PutFile hashes the regular file at path and stores it, returning its
// digest. With move set the file is consumed: it is renamed into the store
// when it is on the same filesystem, has no other hard links and can be
// given to the daemon's user (so a sandboxed process that owned it cannot
// later chmod and alter the blob); otherwise it is copied and removed.
// Either way, after a successful PutFile with move the file is gone from
// path. Without move the file is copied and left alone.
//
// The file must not change while PutFile runs (the executor collects
// outputs after the action's processes are gone); a change noticed during
// the call fails with ABORTED.
func (s *Store) PutFile(ctx context.Context, path string, move bool) (digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return digest.Digest{}, rpcstatus.Newf(codes.NotFound, "storing %s: file does not exist", path)
		}
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	if !fi.Mode().IsRegular() {
		return digest.Digest{}, rpcstatus.Newf(codes.InvalidArgument, "storing %s: not a regular file (mode %v)", path, fi.Mode())
	}
	if move && linkCount(fi) == 1 {
		d, done, err := s.moveFile(ctx, f, fi, path)
		if err != nil || done {
			return d, err
		}
		// Fall back to copying (another filesystem, or not ours to own).
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
		}
	}
	d, err := s.copyFile(ctx, f, fi, path)
	if err != nil {
		return digest.Digest{}, err
	}
	if move {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s: removing the moved file", path)
		}
	}
	return d, nil
}

// hashFile hashes f from its current offset to the end.
func hashFile(ctx context.Context, f *os.File) (digest.Digest, error) {
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return digest.Digest{}, err
	}
	return digest.Digest{Hash: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// ctxReader stops a long read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func changed(a, b fs.FileInfo) bool {
	return a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime())
}

// moveFile tries to rename f into the store. done is false when the caller
// should copy instead.
func (s *Store) moveFile(ctx context.Context, f *os.File, fi fs.FileInfo, path string) (d digest.Digest, done bool, err error) {
	// The file's bytes were written before this call, so a writeback
	// failure of them may already have been reported to an earlier flush
	// and go unnoticed here; strict mode's fdatasync does catch it (the
	// per-file error is kept until a descriptor of the file sees it).
	epoch := s.syncer.failureEpoch()
	d, err = hashFile(ctx, f)
	if err != nil {
		return d, true, rpcstatus.Wrapf(err, "storing %s: hashing", path)
	}
	if fi2, err := f.Stat(); err != nil || changed(fi, fi2) || d.Size != fi.Size() {
		return d, true, rpcstatus.Newf(codes.Aborted, "storing %s: file changed while it was being stored", path)
	}
	k, _ := keyOf(d)
	s.mu.Lock()
	if e, ok := s.lookupLocked(d); ok {
		s.touchLocked(e)
		s.mu.Unlock()
		if err := os.Remove(path); err != nil {
			return d, true, rpcstatus.Wrapf(err, "storing %s: removing the moved file", path)
		}
		return d, true, rpcstatus.Wrapf(s.awaitBlob(ctx, e), "storing %s", path)
	}
	err = s.reserveLocked(d, d.Size)
	s.mu.Unlock()
	if err != nil {
		return d, true, rpcstatus.Wrapf(err, "storing %s", path)
	}
	if uid, gid := owner(fi); uid != s.uid || gid != s.gid {
		if err := f.Chown(s.uid, s.gid); err != nil {
			s.unreserve(d.Size)
			return d, false, nil
		}
	}
	if err := f.Chmod(blobMode); err != nil {
		s.unreserve(d.Size)
		return d, false, nil
	}
	if s.strict {
		if err := datasync(f); err != nil {
			s.unreserve(d.Size)
			return d, true, rpcstatus.Wrapf(err, "storing %s: fdatasync", path)
		}
	}
	e, err := s.install(path, d, k, epoch)
	if err != nil {
		s.unreserve(d.Size)
		if errors.Is(err, syscall.EXDEV) {
			return d, false, nil
		}
		return d, true, rpcstatus.Wrapf(err, "storing %s", path)
	}
	return d, true, rpcstatus.Wrapf(s.awaitBlob(ctx, e), "storing %s", path)
}

// copyFile copies f into a temp file (copy_file_range where the kernel can)
// and stores that, hashing the copy so the stored bytes are the hashed ones.
func (s *Store) copyFile(ctx context.Context, f *os.File, fi fs.FileInfo, path string) (digest.Digest, error) {
	epoch := s.syncer.failureEpoch()
	t, err := s.createTemp()
	if err != nil {
		return digest.Digest{}, err
	}
	fail := func(err error) (digest.Digest, error) {
		_ = t.Close()
		_ = os.Remove(t.Name())
		return digest.Digest{}, err
	}
	if err := ctx.Err(); err != nil {
		return fail(rpcstatus.Wrapf(err, "storing %s", path))
	}
	n, err := io.Copy(t, f)
	if err != nil {
		return fail(rpcstatus.Wrapf(err, "storing %s: copying", path))
	}
	if fi2, err := f.Stat(); err != nil || changed(fi, fi2) || n != fi.Size() {
		return fail(rpcstatus.Newf(codes.Aborted, "storing %s: file changed while it was being stored", path))
	}
	if _, err := t.Seek(0, io.SeekStart); err != nil {
		return fail(rpcstatus.Wrapf(err, "storing %s", path))
	}
	d, err := hashFile(ctx, t)
	if err != nil {
		return fail(rpcstatus.Wrapf(err, "storing %s: hashing", path))
	}
	k, _ := keyOf(d)
	s.mu.Lock()
	if e, ok := s.lookupLocked(d); ok {
		s.touchLocked(e)
		s.mu.Unlock()
		_ = t.Close()
		_ = os.Remove(t.Name())
		return d, rpcstatus.Wrapf(s.awaitBlob(ctx, e), "storing %s", path)
	}
	err = s.reserveLocked(d, d.Size)
	s.mu.Unlock()
	if err != nil {
		return fail(rpcstatus.Wrapf(err, "storing %s", path))
	}
	if err := s.finishTemp(t, blobMode); err != nil {
		s.unreserve(d.Size)
		return digest.Digest{}, err
	}
	e, err := s.install(t.Name(), d, k, epoch)
	if err != nil {
		s.unreserve(d.Size)
		_ = os.Remove(t.Name())
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	if err := s.awaitBlob(ctx, e); err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	return d, nil
}
