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

// strictFsyncRequired is false on Linux: whether the filesystem suits group
// commit is judged by filesystemOrdersData.
const strictFsyncRequired = false

// filesystemOrdersData reports the type of the filesystem holding path and
// whether it is one on which a file renamed into place before its data is
// flushed can, after a crash, be short or empty but never show garbage
// within its size (see Store.install): ext4 with a journal in data=ordered
// (the default) or data=journal mode, xfs and btrfs, which all update the
// on-disk size only once the data it covers is written, and tmpfs, which
// has nothing to lose to a crash. ext4 without a journal (and ext2) orders
// nothing, nor does data=writeback.
func filesystemOrdersData(path string) (string, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "unknown", false
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC: // also ext2 and ext3
		mode := ext4DataMode(path)
		return "ext4 (" + mode + ")", mode == "data=ordered" || mode == "data=journal"
	case unix.XFS_SUPER_MAGIC:
		return "xfs", true
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs", true
	case unix.TMPFS_MAGIC:
		return "tmpfs", true
	}
	return fmt.Sprintf("type %#x", st.Type), false
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
// itself does.
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
