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
	e, r, err := s.reserveUnlessStored(d)
	if err != nil {
		return err
	}
	if e != nil {
		return rpcstatus.Wrapf(s.awaitBlob(ctx, e), "blob %s", d)
	}
	defer r.Release()
	t, err := s.createTemp()
	if err != nil {
		return rpcstatus.Wrapf(err, "blob %s", d)
	}
	defer t.discard()
	if err := s.writeFull(t.f, data); err != nil {
		return rpcstatus.Wrapf(err, "blob %s", d)
	}
	return rpcstatus.Wrapf(s.commitBlob(ctx, t, r, d, k), "blob %s", d)
}

func validKey(d digest.Digest) (key, error) {
	if _, err := digest.New(d.Hash, d.Size); err != nil {
		return key{}, err
	}
	k, _ := keyOf(d)
	return k, nil
}

// MoveFile hashes the regular file at path, stores it and returns its
// digest, consuming the file: it is renamed into the store when it is on
// the same filesystem, has no other hard links and can be given to the
// daemon's user (so a sandboxed process that owned it cannot later chmod
// and alter the blob); otherwise it is copied and removed. Either way,
// after a successful MoveFile the file is gone from path.
//
// The file must not change while MoveFile runs (the executor collects
// outputs after the action's processes are gone); a change noticed during
// the call fails with ABORTED.
//
// failuresBefore is FlushFailures sampled before the file's bytes were
// first written (for an action's output, before the action started). If a
// flush has failed since, that failure may have been the writeback of this
// file, whose bytes would then be correct only in the page cache: the file
// is copied instead, so that the stored blob's bytes are written anew.
func (s *Store) MoveFile(ctx context.Context, path string, failuresBefore int64) (digest.Digest, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return digest.Digest{}, err
	}
	defer f.Close()
	if linkCount(fi) == 1 && s.syncer.failureEpoch() == failuresBefore {
		d, done, err := s.moveFile(ctx, f, fi, path, failuresBefore)
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
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s: removing the moved file", path)
	}
	return d, nil
}

// CopyFile hashes the regular file at path, stores a copy of it and
// returns its digest; the file is left alone. Like MoveFile, it fails with
// ABORTED when it notices that the file changed during the call.
func (s *Store) CopyFile(ctx context.Context, path string) (digest.Digest, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return digest.Digest{}, err
	}
	defer f.Close()
	return s.copyFile(ctx, f, fi, path)
}

// openRegular opens the regular file at path for MoveFile and CopyFile:
// NOT_FOUND if there is none, INVALID_ARGUMENT if it is not regular.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, rpcstatus.Newf(codes.NotFound, "storing %s: file does not exist", path)
		}
		return nil, nil, rpcstatus.Wrapf(err, "storing %s", path)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, rpcstatus.Wrapf(err, "storing %s", path)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, rpcstatus.Newf(codes.InvalidArgument, "storing %s: not a regular file (mode %v)", path, fi.Mode())
	}
	return f, fi, nil
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
func (s *Store) moveFile(ctx context.Context, f *os.File, fi fs.FileInfo, path string, epoch int64) (d digest.Digest, done bool, err error) {
	d, err = hashFile(ctx, f)
	if err != nil {
		return d, true, rpcstatus.Wrapf(err, "storing %s: hashing", path)
	}
	if fi2, err := f.Stat(); err != nil || changed(fi, fi2) || d.Size != fi.Size() {
		return d, true, rpcstatus.Newf(codes.Aborted, "storing %s: file changed while it was being stored", path)
	}
	k, _ := keyOf(d)
	e, r, err := s.reserveUnlessStored(d)
	if err != nil {
		return d, true, rpcstatus.Wrapf(err, "storing %s", path)
	}
	if e != nil {
		if err := os.Remove(path); err != nil {
			return d, true, rpcstatus.Wrapf(err, "storing %s: removing the moved file", path)
		}
		return d, true, rpcstatus.Wrapf(s.awaitBlob(ctx, e), "storing %s", path)
	}
	defer r.Release()
	if uid, gid := owner(fi); uid != s.uid || gid != s.gid {
		if err := f.Chown(s.uid, s.gid); err != nil {
			return d, false, nil
		}
	}
	if err := f.Chmod(blobMode); err != nil {
		return d, false, nil
	}
	err = s.commitBlob(ctx, &stagedFile{f: f, path: path, epoch: epoch}, r, d, k)
	if errors.Is(err, syscall.EXDEV) {
		return d, false, nil
	}
	return d, true, rpcstatus.Wrapf(err, "storing %s", path)
}

// copyFile copies f into a temp file (copy_file_range where the kernel can)
// and stores that, hashing the copy so the stored bytes are the hashed ones.
func (s *Store) copyFile(ctx context.Context, f *os.File, fi fs.FileInfo, path string) (digest.Digest, error) {
	t, err := s.createTemp()
	if err != nil {
		return digest.Digest{}, err
	}
	defer t.discard()
	if err := ctx.Err(); err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	var n int64
	err = s.copyFull(t.f, f, fi.Size(), func(dst, src *os.File) (err error) {
		n, err = io.Copy(dst, src)
		return err
	})
	if err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s: copying", path)
	}
	if fi2, err := f.Stat(); err != nil || changed(fi, fi2) || n != fi.Size() {
		return digest.Digest{}, rpcstatus.Newf(codes.Aborted, "storing %s: file changed while it was being stored", path)
	}
	if _, err := t.f.Seek(0, io.SeekStart); err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	d, err := hashFile(ctx, t.f)
	if err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s: hashing", path)
	}
	k, _ := keyOf(d)
	e, r, err := s.reserveUnlessStored(d)
	if err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	if e != nil {
		t.discard()
		err = s.awaitBlob(ctx, e)
	} else {
		err = s.commitBlob(ctx, t, r, d, k)
	}
	if err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	return d, nil
}
