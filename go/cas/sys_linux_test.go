//go:build linux

package cas

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestFilesystemTrustsEpochs mounts real ext4 images (loop devices) and
// checks that epochs run only where metadata changes reach the disk in
// order (a journal, whatever its data= mode), not without a journal.
func TestFilesystemTrustsEpochs(t *testing.T) {
	tests := []struct {
		name     string
		features string // mkfs -O
		options  string // mount data
		want     bool
	}{
		{"journal, data=ordered (default)", "", "", true},
		{"journal, data=journal", "", "data=journal", true},
		{"journal, data=writeback", "", "data=writeback", true},
		{"no journal", "^has_journal", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mnt := MountExt4Image(t, 32<<20, tc.features, tc.options)
			fsType, trusted := filesystemTrustsEpochs(mnt)
			if trusted != tc.want {
				t.Errorf("filesystemTrustsEpochs = %q, %v; want %v", fsType, trusted, tc.want)
			}
		})
	}
}

// TestTrustsEpochs covers the filesystems that cannot be mounted here: a
// FUSE filesystem's syncfs goes to its server (or nowhere) and is no
// barrier, so it must not be trusted even though syncfs succeeds on it.
func TestTrustsEpochs(t *testing.T) {
	tests := []struct {
		name     string
		magic    uint32
		ext4Mode string
		want     bool
	}{
		{"xfs", unix.XFS_SUPER_MAGIC, "", true},
		{"btrfs", unix.BTRFS_SUPER_MAGIC, "", true},
		{"tmpfs", unix.TMPFS_MAGIC, "", true},
		{"ext4 ordered", unix.EXT4_SUPER_MAGIC, "data=ordered", true},
		{"ext4 without journal", unix.EXT4_SUPER_MAGIC, "no journal", false},
		{"ext4 options unreadable", unix.EXT4_SUPER_MAGIC, "unknown", false},
		{"fuse", unix.FUSE_SUPER_MAGIC, "", false},
		{"nfs", unix.NFS_SUPER_MAGIC, "", false},
		{"overlayfs", unix.OVERLAYFS_SUPER_MAGIC, "", false},
		{"unknown", 0x12345678, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := trustsEpochs(tc.magic, tc.ext4Mode); got != tc.want {
				t.Errorf("trustsEpochs(%#x, %q) = %v, want %v", tc.magic, tc.ext4Mode, got, tc.want)
			}
		})
	}
}
