// Package privdir creates the daemon's state directories so that no other
// user can change what is in them: a blob another user could replace is a
// blob an action of theirs could poison in every build that trusts the
// cache.
package privdir

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrNotPrivate is the cause of Ensure's errors for a directory that
// other users can change and that this process cannot fix.
var ErrNotPrivate = errors.New("directory is writable by other users")

// Ensure creates dir (and missing parents) with mode 0700 when it is
// missing; an existing dir must be a directory owned by this process's
// user. Group and world write permissions on it are removed. A directory
// owned by another user is refused with ErrNotPrivate, since its owner
// could change it at any time. fixed reports whether Ensure removed
// write bits, for the caller to log.
func Ensure(dir string) (fixed bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return false, fmt.Errorf("%s is owned by uid %d, not by this daemon's uid %d (chown it, or give a --root of your own): %w", dir, st.Uid, os.Geteuid(), ErrNotPrivate)
	}
	if fi.Mode().Perm()&0o022 == 0 {
		return false, nil
	}
	if err := os.Chmod(dir, fi.Mode().Perm()&^0o022); err != nil {
		return false, fmt.Errorf("%s has mode %#o and removing its group and world write bits failed: %v: %w", dir, fi.Mode().Perm(), err, ErrNotPrivate)
	}
	return true, nil
}
