//go:build linux

package cas

import "testing"

// TestFilesystemOrdersData mounts real ext4 images (loop devices) and
// checks that group commit is only trusted where the kernel writes file
// data before the sizes that cover it: a journal in data=ordered or
// data=journal mode, not data=writeback and not without a journal.
func TestFilesystemOrdersData(t *testing.T) {
	tests := []struct {
		name     string
		features string // mkfs -O
		options  string // mount data
		want     bool
	}{
		{"journal, data=ordered (default)", "", "", true},
		{"journal, data=journal", "", "data=journal", true},
		{"journal, data=writeback", "", "data=writeback", false},
		{"no journal", "^has_journal", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mnt := MountExt4Image(t, 32<<20, tc.features, tc.options)
			fsType, ordered := filesystemOrdersData(mnt)
			if ordered != tc.want {
				t.Errorf("filesystemOrdersData = %q, %v; want ordered %v", fsType, ordered, tc.want)
			}
		})
	}
}
