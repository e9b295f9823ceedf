//go:build linux

package cas

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFilesystemOrdersData mounts real ext4 images (loop devices) and
// checks that group commit is only trusted where the kernel writes file
// data before the sizes that cover it: a journal in data=ordered or
// data=journal mode, not data=writeback and not without a journal.
func TestFilesystemOrdersData(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount ext4 images on loop devices")
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("needs mkfs.ext4 (e2fsprogs)")
	}
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
			dir := t.TempDir()
			img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
			args := []string{"-q", "-F"}
			if tc.features != "" {
				args = append(args, "-O", tc.features)
			}
			f, err := os.Create(img)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(32 << 20); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if out, err := exec.Command(mkfs, append(args, img)...).CombinedOutput(); err != nil {
				t.Fatalf("mkfs.ext4: %v\n%s", err, out)
			}
			if err := os.Mkdir(mnt, 0o755); err != nil {
				t.Fatal(err)
			}
			mountArgs := []string{"-o", "loop"}
			if tc.options != "" {
				mountArgs = []string{"-o", "loop," + tc.options}
			}
			if out, err := exec.Command("mount", append(mountArgs, img, mnt)...).CombinedOutput(); err != nil {
				t.Skipf("cannot mount an ext4 image here: %v\n%s", err, out)
			}
			t.Cleanup(func() {
				if err := unix.Unmount(mnt, 0); err != nil {
					t.Errorf("unmount %s: %v", mnt, err)
				}
			})
			fsType, ordered := filesystemOrdersData(mnt)
			if ordered != tc.want {
				t.Errorf("filesystemOrdersData = %q, %v; want ordered %v", fsType, ordered, tc.want)
			}
		})
	}
}
