package cas

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// atime is the file's last access time.
func atime(st *syscall.Stat_t) time.Time { return time.Unix(st.Atimespec.Sec, st.Atimespec.Nsec) }

func ctime(st *syscall.Stat_t) time.Time { return time.Unix(st.Ctimespec.Sec, st.Ctimespec.Nsec) }

// cloneFile is not done on macOS (clonefile(2) works on paths, not open
// files); callers copy instead.
func cloneFile(dst, src *os.File) error {
	return errors.ErrUnsupported
}

// syncFilesystem flushes the filesystem holding the open directory fd.
// macOS has no syncfs: sync(2) schedules every dirty buffer (it may return
// before they are written) and F_FULLFSYNC on the directory then waits for
// its metadata and makes the drive flush its cache. Blob bytes are not
// trusted to this: strictFsyncRequired makes every blob F_FULLFSYNC its
// data before its rename.
func syncFilesystem(fd int) error {
	if err := unix.Sync(); err != nil {
		return err
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_FULLFSYNC, 0)
	return err
}

// datasync writes f's data to the drive's permanent storage (File.Sync is
// F_FULLFSYNC on macOS).
func datasync(f *os.File) error { return f.Sync() }

// strictFsyncRequired is true on macOS, see syncFilesystem.
const strictFsyncRequired = true

// filesystemTrustsEpochs is not relied on on macOS (strictFsyncRequired).
func filesystemTrustsEpochs(path string) (string, bool) { return "apfs", false }

// flushReportsWriteErrors is false on macOS: sync(2) reports no writeback
// errors, so whatever must be durable is fsynced one by one.
const flushReportsWriteErrors = false
