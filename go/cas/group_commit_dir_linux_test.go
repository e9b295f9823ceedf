package cas_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// groupCommitDir returns a directory on a filesystem where the store uses
// group commit: a fresh ext4 image with a journal, loop-mounted (as root,
// with mkfs.ext4), whatever the host's temp directory is; ext4 without a
// journal, as on some VMs, gets strict fsync instead. Without root it is
// t.TempDir().
func groupCommitDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mkfs, err := exec.LookPath("mkfs.ext4")
	if os.Geteuid() != 0 || err != nil {
		return dir
	}
	img, mnt := filepath.Join(dir, "ext4.img"), filepath.Join(dir, "mnt")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(128 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command(mkfs, "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Logf("cannot mount an ext4 image (%v: %s); using %s", err, out, dir)
		return dir
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt
}
