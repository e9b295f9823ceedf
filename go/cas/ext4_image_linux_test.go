//go:build linux

package cas

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// MountExt4Image makes a fresh ext4 image of size bytes (mkfs.ext4 -O
// features when not empty), loop-mounts it with the data options given and
// returns the mount point, unmounted at the end of the test. It returns an
// error, failing nothing, where that cannot be done here (not root, no
// mkfs.ext4, no loop devices); the caller skips or falls back. Exported for
// the cas_test package.
func MountExt4Image(t testing.TB, size int64, features, options string) (string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		return "", errors.New("needs root to mount ext4 images on loop devices")
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		return "", errors.New("needs mkfs.ext4 (e2fsprogs)")
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
		return "", fmt.Errorf("cannot mount an ext4 image here: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt, nil
}
