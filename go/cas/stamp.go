package cas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// stamp identifies the version of a file the store wrote: its inode and
// its modification time. A write to the file sets its mtime to the time of
// the write, and replacing it changes the inode, so a file whose stamp,
// size, mode and owner are still what the store recorded holds the bytes
// the store verified; anything else is hashed again before it is used
// (see doc.go, "Files at rest").
type stamp struct {
	ino   uint64
	mtime int64 // nanoseconds since the Unix epoch
}

// looksIntact reports whether fi is still the file recorded as want, of
// size bytes, with mode perm and owned by the store's user.
func (s *Store) looksIntact(fi fs.FileInfo, size int64, want stamp, perm fs.FileMode) bool {
	if !fi.Mode().IsRegular() || fi.Size() != size || fi.Mode().Perm() != perm || stampOf(fi) != want {
		return false
	}
	uid, _ := owner(fi)
	return uid == s.uid
}

// stampOf returns e's recorded stamp.
func (s *Store) stampOf(e *entry) stamp {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.stamp
}

// verifyOpen checks the pinned blob e, open as f with fi its Stat, against
// what the store recorded. A file that differs is hashed again: if its
// bytes still match d and it is the store's, its mode is restored and its
// stamp recorded again; otherwise the blob is dropped (file removed) and
// the error is NOT_FOUND, so that clients upload it again. f is left at
// offset 0.
func (s *Store) verifyOpen(ctx context.Context, e *entry, d digest.Digest, f *os.File, fi fs.FileInfo) error {
	if s.looksIntact(fi, d.Size, s.stampOf(e), blobMode) {
		return nil
	}
	why := "its file was changed on disk"
	uid, _ := owner(fi)
	switch {
	case !fi.Mode().IsRegular() || fi.Size() != d.Size:
		why = "its file was changed on disk (wrong size)"
	case uid != s.uid:
		why = "its file was replaced by another user's"
	default:
		got, err := hashReader(ctx, io.NewSectionReader(f, 0, d.Size))
		if err != nil {
			if ctx.Err() != nil {
				return rpcstatus.FromContext(ctx)
			}
			return rpcstatus.Wrapf(err, "blob %s: hashing its changed file", d)
		}
		if got == d.Hash {
			if fi.Mode().Perm() != blobMode {
				if err := f.Chmod(blobMode); err != nil {
					return rpcstatus.Wrapf(err, "blob %s: restoring its mode", d)
				}
			}
			fi2, err := f.Stat()
			if err != nil {
				return rpcstatus.Wrapf(err, "blob %s: stat", d)
			}
			s.mu.Lock()
			e.stamp = stampOf(fi2)
			s.mu.Unlock()
			s.logger.LogAttrs(ctx, slog.LevelWarn, "cas: a blob's file was changed on disk but still holds its bytes; recorded it again",
				slog.String("digest", d.String()))
			return nil
		}
		why = "its file was changed on disk: it now hashes to " + got
	}
	s.forget(ctx, e, d, why)
	return rpcstatus.Newf(codes.NotFound, "blob %s not found (%s)", d, why)
}

// verifyPath is verifyOpen for a pinned blob not open yet: one lstat when
// the file is intact.
func (s *Store) verifyPath(ctx context.Context, e *entry, d digest.Digest) error {
	path := s.Path(d)
	fi, err := os.Lstat(path)
	if err == nil && s.looksIntact(fi, d.Size, s.stampOf(e), blobMode) {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			s.forget(ctx, e, d, "file is gone")
			return rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
		}
		return rpcstatus.Wrapf(err, "blob %s: opening", d)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return rpcstatus.Wrapf(err, "blob %s: stat", d)
	}
	return s.verifyOpen(ctx, e, d, f, fi)
}

// hashReader returns the hex SHA-256 of what r holds.
func hashReader(ctx context.Context, r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, r}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
