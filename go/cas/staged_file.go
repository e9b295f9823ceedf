package cas

import (
	"context"
	"os"

	"github.com/actiond/actiond/go/rpcstatus"
)

// stagedFile holds a write's bytes until commit renames it into the store:
// a temp file under Root/cas/tmp, or the file MoveFile moves in.
type stagedFile struct {
	f    *os.File // open until finish closes a temp file
	path string
	// epoch is groupSyncer.failureEpoch sampled before the file's bytes
	// were written (see durability).
	epoch int64
	temp  bool // a temp file of the store's: removed unless it is installed
	// gone is set once the path no longer names the file: it was renamed
	// into place, or removed (as a copy of a blob already stored, or by
	// discard).
	gone bool
}

// createTemp creates an empty temp file for a write.
func (s *Store) createTemp() (*stagedFile, error) {
	epoch := s.syncer.failureEpoch()
	f, err := os.CreateTemp(s.tmpDir, tempPrefix+"*")
	if isDiskFull(err) {
		// No inode (or directory block) left: evicting frees some.
		evicted := s.makeRoomOnDisk(context.Background(), 1)
		if f, err = os.CreateTemp(s.tmpDir, tempPrefix+"*"); isDiskFull(err) {
			return nil, rpcstatus.Wrapf(s.diskFullError(err, evicted), "cas: creating temp file")
		}
	}
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "cas: creating temp file")
	}
	return &stagedFile{f: f, path: f.Name(), epoch: epoch, temp: true}, nil
}

// finish readies a complete file for its rename: with sync its bytes are
// written to disk first, and a temp file gets mode and is closed. A moved
// file already has its owner and mode (MoveFile sets them, or copies the
// file instead when it cannot) and stays open, as MoveFile may still copy
// it.
func (t *stagedFile) finish(mode os.FileMode, sync bool) error {
	var err error
	if t.temp {
		err = t.f.Chmod(mode)
	}
	if err == nil && sync {
		err = datasync(t.f)
	}
	if t.temp {
		if cerr := t.f.Close(); err == nil {
			err = cerr
		}
		t.f = nil
	}
	switch {
	case err == nil:
		return nil
	case t.temp:
		return rpcstatus.Wrapf(err, "cas: finishing temp file")
	default:
		return rpcstatus.Wrapf(err, "fdatasync")
	}
}

// discard closes and removes a temp file that is not gone. It does
// nothing to a moved file, and nothing when called again.
func (t *stagedFile) discard() {
	if !t.temp || t.gone {
		return
	}
	if t.f != nil {
		_ = t.f.Close()
		t.f = nil
	}
	_ = os.Remove(t.path)
	t.gone = true
}
