package cas

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// checkRecent hashes again every indexed blob named under Root/cas/recent
// (blobs renamed in that no flush had confirmed when the last process
// stopped: see install) and drops those whose bytes do not match, so that
// nothing a crash or a power loss damaged is ever served. It returns how
// many blobs it checked and dropped. It runs in Open, before anything is
// served; a cancelled ctx stops it with an error and drops nothing more,
// leaving the links for the next Open. Links are left in place: Open
// removes them (clearRecent) only after flushing the drops.
func (s *Store) checkRecent(ctx context.Context) (checked, dropped int, err error) {
	des, err := os.ReadDir(s.recentDir)
	if err != nil {
		return 0, 0, rpcstatus.Wrapf(err, "cas: listing %s", s.recentDir)
	}
	seen := make(map[key]bool, len(des))
	for _, de := range des {
		hash, _, _ := strings.Cut(de.Name(), "-")
		k, ok := keyOf(digest.Digest{Hash: hash})
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		e := s.index[k]
		if e == nil {
			continue // the rename did not survive, or it was evicted since
		}
		d := digest.Digest{Hash: hash, Size: e.size}
		intact, err := fileHasDigest(ctx, s.Path(d), d)
		if ctx.Err() != nil {
			return checked, dropped, rpcstatus.Wrapf(ctx.Err(), "cas: checking blobs written before an unclean shutdown")
		}
		checked++
		if intact {
			continue
		}
		s.mu.Lock()
		s.dropLocked(e, true)
		s.mu.Unlock()
		dropped++
		s.logger.LogAttrs(ctx, slog.LevelWarn, "cas: dropped a blob damaged by an unclean shutdown (written after the last completed flush)",
			slog.String("digest", d.String()), slog.Any("error", err))
	}
	if checked > 0 {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "cas: checked the blobs written after the last completed flush (the last process did not stop cleanly)",
			slog.Int("checked", checked), slog.Int("dropped", dropped))
	}
	return checked, dropped, nil
}

// fileHasDigest reports whether the file at path holds exactly the bytes
// of d. A file that cannot be read counts as damaged; err says why.
func fileHasDigest(ctx context.Context, path string, d digest.Digest) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	got, err := hashFile(ctx, f)
	if err != nil {
		return false, err
	}
	if got != d {
		return false, errors.New("content hashes to " + got.String())
	}
	return true, nil
}

// clearRecent removes every link under Root/cas/recent: after checkRecent
// and a flush, none of them names a blob that still needs checking.
func (s *Store) clearRecent() error {
	des, err := os.ReadDir(s.recentDir)
	if err != nil {
		return rpcstatus.Wrapf(err, "cas: listing %s", s.recentDir)
	}
	for _, de := range des {
		if err := os.RemoveAll(filepath.Join(s.recentDir, de.Name())); err != nil {
			return rpcstatus.Wrapf(err, "cas: removing checked links")
		}
	}
	return nil
}
