package cas

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"syscall"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
)

// isDiskFull reports whether err says the filesystem, or the daemon user's
// quota on it, has no room left.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// makeRoomOnDisk evicts least recently used unpinned blobs adding up to at
// least need bytes, or all there are, and returns how many bytes it
// evicted. It is for a disk that filled up before the store reached
// MaxBytes, because something else took the space MaxBytes assumed. It
// then flushes (Sync), which lets go of the recent/ links of blobs not yet
// flushed: until then an evicted blob's link keeps its blocks in use.
func (s *Store) makeRoomOnDisk(ctx context.Context, need int64) int64 {
	need = max(need, 1)
	s.mu.Lock()
	var freed int64
	n := 0
	for freed < need {
		e := s.lru.back()
		if e == nil {
			break
		}
		freed += e.bytes()
		n++
		s.evictLocked(e)
	}
	s.mu.Unlock()
	if err := s.Sync(ctx); err != nil {
		s.logger.LogAttrs(ctx, slog.LevelError, "cas: flushing to make room on a full disk", slog.Any("error", err))
	}
	avail, _ := availableBytes(s.base)
	s.logger.LogAttrs(ctx, slog.LevelWarn, "cas: the disk is full; evicted unused blobs to make room",
		slog.Int64("needed_bytes", need), slog.Int("evicted_blobs", n), slog.Int64("evicted_bytes", freed),
		slog.Int64("available_bytes", avail))
	return freed
}

// diskFullError is the RESOURCE_EXHAUSTED a write gets when the disk stays
// full after makeRoomOnDisk; callers prefix what was written.
func (s *Store) diskFullError(err error, evicted int64) error {
	avail, _ := availableBytes(s.base)
	return rpcstatus.Newf(codes.ResourceExhausted,
		"the disk is full: the filesystem holding %s has %d bytes available (%v), and evicting %d bytes of unused blobs did not make enough room; free space on it or lower --max-cas-bytes",
		s.base, avail, err, evicted)
}

// diskFullCode gives err, if it says the disk is full, the code
// RESOURCE_EXHAUSTED; other errors are returned as they are. It is for the
// steps of a write that cannot be retried piecemeal (fdatasync, rename).
func (s *Store) diskFullCode(err error) error {
	if err == nil || !isDiskFull(err) {
		return err
	}
	return s.diskFullError(err, 0)
}

// writeFull writes p to f at its offset. When the disk is full it evicts
// unused blobs to make room for the rest and tries the rest once more.
func (s *Store) writeFull(f *os.File, p []byte) error {
	n, err := f.Write(p)
	if err == nil || !isDiskFull(err) {
		return err
	}
	evicted := s.makeRoomOnDisk(context.Background(), int64(len(p)-n))
	if _, err := f.Write(p[n:]); err != nil {
		if isDiskFull(err) {
			return s.diskFullError(err, evicted)
		}
		return err
	}
	return nil
}

// copyFull copies src, from its start, into the empty dst with copy, and
// when the disk is full evicts unused blobs to make room for size bytes
// and copies again from the start, once.
func (s *Store) copyFull(dst, src *os.File, size int64, copy func(dst, src *os.File) error) error {
	err := copy(dst, src)
	if err == nil || !isDiskFull(err) {
		return err
	}
	evicted := s.makeRoomOnDisk(context.Background(), size)
	if err := dst.Truncate(0); err != nil {
		return err
	}
	for _, f := range []*os.File{dst, src} {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	if err := copy(dst, src); err != nil {
		if isDiskFull(err) {
			return s.diskFullError(err, evicted)
		}
		return err
	}
	return nil
}
