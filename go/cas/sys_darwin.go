package cas

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// accessTime is the later of a file's atime and mtime: the best guess at its
// last use that survives a restart.
func accessTime(fi fs.FileInfo) time.Time {
	t := fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if a := time.Unix(st.Atimespec.Sec, st.Atimespec.Nsec); a.After(t) {
			t = a
		}
	}
	return t
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

// cloneFile is not done on macOS (clonefile(2) works on paths, not open
// files); callers copy instead.
func cloneFile(dst, src *os.File) error {
	return errors.ErrUnsupported
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
