package cas

import (
	"os"

	"github.com/actiond/actiond/go/rpcstatus"
)

func (s *Store) createTemp() (*os.File, error) {
	f, err := os.CreateTemp(s.tmpDir, tempPrefix+"*")
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "cas: creating temp file")
	}
	return f, nil
}

// finishTemp sets a complete temp file's mode and closes it, writing its
// bytes to disk first in strict mode. On error the file is removed.
func (s *Store) finishTemp(f *os.File, mode os.FileMode) error {
	return s.finishTempSync(f, mode, s.strict)
}

func (s *Store) finishTempSync(f *os.File, mode os.FileMode, sync bool) error {
	err := f.Chmod(mode)
	if err == nil && sync {
		err = datasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return rpcstatus.Wrapf(err, "cas: finishing temp file")
	}
	return nil
}
