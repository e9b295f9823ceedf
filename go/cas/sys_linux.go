package cas

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// atime is the file's last access time.
func atime(st *syscall.Stat_t) time.Time { return time.Unix(st.Atim.Sec, st.Atim.Nsec) }

func ctime(st *syscall.Stat_t) time.Time { return time.Unix(st.Ctim.Sec, st.Ctim.Nsec) }

// cloneFile makes dst share src's blocks (a reflink) where the filesystem
// can (btrfs, xfs); callers fall back to copying on error.
func cloneFile(dst, src *os.File) error {
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd()))
}

// syncFilesystem flushes the whole filesystem holding the open directory fd
// (syncfs(2)): dirty data and metadata of every file, the renames included.
// Since Linux 5.8 it also reports a writeback error that happened anywhere
// on the filesystem since fd was opened.
func syncFilesystem(fd int) error {
	return unix.Syncfs(fd)
}

// datasync writes f's data (and the size needed to read it) to disk.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fdatasync(int(fd)) }); err != nil {
		return err
	}
	return serr
}

// strictFsyncRequired is false on Linux: whether the filesystem suits
// epochs is judged by filesystemTrustsEpochs.
const strictFsyncRequired = false

// filesystemTrustsEpochs reports the type of the filesystem holding path
// and whether epochs may run on it (see trustsEpochs).
func filesystemTrustsEpochs(path string) (string, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "unknown", false
	}
	magic := uint32(st.Type)
	var ext4Mode string
	fsType := fmt.Sprintf("type %#x", st.Type)
	switch magic {
	case unix.EXT4_SUPER_MAGIC: // also ext2 and ext3
		ext4Mode = ext4DataMode(path)
		fsType = "ext4 (" + ext4Mode + ")"
	case unix.XFS_SUPER_MAGIC:
		fsType = "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		fsType = "btrfs"
	case unix.TMPFS_MAGIC:
		fsType = "tmpfs"
	case unix.FUSE_SUPER_MAGIC:
		fsType = "fuse"
	}
	return fsType, trustsEpochs(magic, ext4Mode)
}

// trustsEpochs tells whether epochs may run on a filesystem of type magic
// (ext4Mode is ext4DataMode's answer for ext4). Epochs need syncfs to be a
// barrier for everything written before it, data and renames alike, and
// metadata changes to reach the disk in the order they were made (a blob's
// recent link before its rename, see Store.install). Journaling
// filesystems give both: ext4 with a journal, in any data= mode (the
// bytes of a blob renamed in before a crash are checked again anyway),
// xfs and btrfs; tmpfs has nothing to lose. ext4 without a journal orders
// nothing; FUSE and network filesystems pass syncfs to a server, or drop
// it, and promise no order; and anything unknown is not trusted.
func trustsEpochs(magic uint32, ext4Mode string) bool {
	switch magic {
	case unix.EXT4_SUPER_MAGIC:
		return strings.HasPrefix(ext4Mode, "data=")
	case unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.TMPFS_MAGIC:
		return true
	}
	return false
}

// ext4DataMode returns the data= mode of the ext4 filesystem holding path
// from /proc/fs/ext4/<device>/options, which names one only when the
// filesystem has a journal: "no journal" when it names none, "unknown" when
// the options cannot be read.
func ext4DataMode(path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "unknown"
	}
	uevent, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err != nil {
		return "unknown"
	}
	var dev string
	for _, line := range strings.Split(string(uevent), "\n") {
		if v, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			dev = v
		}
	}
	if dev == "" || strings.Contains(dev, "/") {
		return "unknown"
	}
	options, err := os.ReadFile(filepath.Join("/proc/fs/ext4", dev, "options"))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(options), "\n") {
		if strings.HasPrefix(line, "data=") {
			return line
		}
	}
	return "no journal"
}

// flushReportsWriteErrors tells whether syncfs reports writeback errors,
// which Linux does from 5.8 on; before that only fdatasync of the file
// itself does, and epochs, which confirm blobs with syncfs alone, cannot
// run.
var flushReportsWriteErrors = kernelAtLeast(5, 8)

func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	var maj, min int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &maj, &min); err != nil {
		return false
	}
	return maj > major || maj == major && min >= minor
}
