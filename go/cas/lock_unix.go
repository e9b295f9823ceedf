//go:build linux || darwin

package cas

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockRoot takes an exclusive, non-blocking flock on path (created if need
// be), held while the returned file is open.
func lockRoot(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
