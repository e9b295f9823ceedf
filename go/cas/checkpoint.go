package cas

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// Strict mode without a flush per blob.
//
// Where the filesystem may commit a file's size before its data (strict
// mode) and syncfs reports writeback errors, a blob's bytes are not
// fdatasynced one by one: the blob is renamed in and acknowledged after a
// shared flush, as on other filesystems, and a crash is dealt with at the
// next Open instead. Until that flush, a crash could leave a renamed blob
// holding garbage within its size, so after an unclean stop Open re-hashes
// the blobs that may have been renamed in without a flush after them, and
// removes those that do not match.
//
// Which blobs: checkpointFile holds a time T such that everything changed
// before T was on disk. Each flush first writes there the start of the last
// successful flush, which that flush then makes durable. Renaming, writing
// and chmod all set a file's ctime, so a blob that may not have reached the
// disk has a ctime after T; Open hashes those (with verifyMargin more, for
// the coarse clock behind ctime and small clock steps), after a crash as
// after a clean Close, which records its final flush: a Writer may commit
// after Close. A store without the file was written by a version that
// fdatasynced every blob, or not in deferred mode, and is trusted.
const (
	checkpointFile = "flushed-before"
	verifyMargin   = 10 * time.Second
)

// readCheckpoint reads checkpointFile: everything changed before the
// returned time (UnixNano) is on disk. ok is false without the file; an
// unreadable one gives 0, so that every blob is verified.
func (s *Store) readCheckpoint() (before int64, ok bool) {
	b, err := os.ReadFile(filepath.Join(s.base, checkpointFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false
	}
	n, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || perr != nil {
		return 0, true
	}
	return n, true
}

// openCheckpoint opens checkpointFile for the flushes to write.
func (s *Store) openCheckpoint() error {
	f, err := os.OpenFile(filepath.Join(s.base, checkpointFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return rpcstatus.Wrapf(err, "cas: opening %s", checkpointFile)
	}
	s.checkpoint = f
	return nil
}

// flushRound is the group syncer's flush: in deferred mode it records the
// last successful flush's start in checkpointFile before flushing.
func (s *Store) flushRound() error {
	start := time.Now()
	if s.deferData {
		if err := s.writeCheckpoint(s.durableBefore.Load()); err != nil {
			return err
		}
	}
	if err := s.flush(); err != nil {
		return err
	}
	if n := start.UnixNano(); n > s.durableBefore.Load() {
		s.durableBefore.Store(n)
	}
	return nil
}

// writeCheckpoint writes t (fixed width, so the file never needs truncating)
// unless the store is closed.
func (s *Store) writeCheckpoint(t int64) error {
	s.baseMu.RLock()
	defer s.baseMu.RUnlock()
	if s.checkpoint == nil {
		return nil
	}
	if _, err := s.checkpoint.WriteAt(fmt.Appendf(nil, "%020d\n", t), 0); err != nil {
		return fmt.Errorf("writing %s: %w", checkpointFile, err)
	}
	return nil
}

// verifyBlob re-hashes the blob file at path, named for hash, and reports
// whether its bytes match.
func verifyBlob(ctx context.Context, path, hash string, size int64) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	d, err := hashFile(ctx, f)
	if err != nil {
		return false, err
	}
	return d == digest.Digest{Hash: hash, Size: size}, nil
}

// logVerified reports what Open's verification did.
func (s *Store) logVerified(ctx context.Context, from time.Time, checked, dropped int, took time.Duration) {
	s.logger.LogAttrs(ctx, slog.LevelWarn, "cas: the last process did not stop cleanly; re-hashed the blobs that may not have reached the disk",
		slog.Time("changed_since", from), slog.Int("checked", checked), slog.Int("dropped", dropped), slog.Duration("took", took))
}
