//go:build linux || darwin

package cas

import (
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// What Linux and macOS do alike; sys_linux.go and sys_darwin.go hold the
// rest.

// accessTime is the later of a file's atime and mtime: the best guess at its
// last use that survives a restart.
func accessTime(fi fs.FileInfo) time.Time {
	t := fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if a := atime(st); a.After(t) {
			t = a
		}
	}
	return t
}

// stampOf returns what the store records of a file it wrote, to tell
// later whether anyone else changed it.
func stampOf(fi fs.FileInfo) stamp {
	st := stamp{mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = uint64(sys.Ino)
	}
	return st
}

// changeTime is a file's ctime, which every change to its bytes or
// metadata sets to the current time and which no system call sets to
// another, or the zero time if unknown.
func changeTime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return ctime(st)
	}
	return time.Time{}
}

// linkCount returns the number of hard links to the file, or 1 if unknown.
func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// owner returns the file's uid and gid, or -1s if unknown.
func owner(fi fs.FileInfo) (int, int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

// availableBytes is the space an unprivileged writer may still use on the
// filesystem holding path.
func availableBytes(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

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
