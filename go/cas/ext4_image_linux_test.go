//go:build linux

package cas

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// MountExt4Image makes a fresh ext4 image of size bytes (mkfs.ext4 -O
// features when not empty), loop-mounts it with the data options given and
// returns the mount point, unmounted at the end of the test. It skips the
// test where this cannot be done here (not root, no loop devices, no
// mkfs.ext4) and fails it when it should work but does not. Exported for
// the cas_test package.
func MountExt4Image(t testing.TB, size int64, features, options string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount ext4 images on loop devices")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("needs loop devices to mount ext4 images: %v", err)
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("needs mkfs.ext4 (e2fsprogs) to make ext4 images")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	args := []string{"-q", "-F"}
	if features != "" {
		args = append(args, "-O", features)
	}
	if out, err := exec.Command(mkfs, append(args, img)...).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := "loop"
	if options != "" {
		opts += "," + options
	}
	if out, err := exec.Command("mount", "-o", opts, img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mounting an ext4 image (as root, with /dev/loop-control): %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt
}

// MountTmpfs mounts a tmpfs of size bytes and returns its mount point,
// unmounted at the end of the test, or "" where it cannot be done here
// (not root). Nothing else writes there, so its free space is exact.
// Exported for the cas_test package.
func MountTmpfs(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return ""
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("mounting a tmpfs as root: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt
}
