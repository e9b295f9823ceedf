package runtimes_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/actiond/actiond/go/runtimes"
)

// squashImage packs dir with the real mksquashfs.
func squashImage(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs is not installed: apt-get install -y squashfs-tools")
	}
	image := filepath.Join(t.TempDir(), "runtimes.sqfs")
	out, err := exec.Command("mksquashfs", dir, image, "-noappend", "-all-root", "-no-progress", "-quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	return image
}

func TestUnpackImage(t *testing.T) {
	if _, err := exec.LookPath("unsquashfs"); err != nil {
		t.Skip("unsquashfs is not installed: apt-get install -y squashfs-tools")
	}
	ctx := context.Background()
	src := standardImage(t)
	image := squashImage(t, src)
	dir := filepath.Join(t.TempDir(), "runtimes")

	if err := runtimes.UnpackImage(ctx, image, dir); err != nil {
		t.Fatalf("UnpackImage: %v", err)
	}
	catalog, err := runtimes.OpenArch(ctx, dir, "x86_64")
	if err != nil {
		t.Fatalf("OpenArch on the unpacked image: %v", err)
	}
	if got := catalog.Names(); len(got) != 2 {
		t.Errorf("Names() = %q, want the two x86_64 libcs", got)
	}

	// The same image again: nothing is redone, so a marker survives.
	marker := filepath.Join(dir, "marker")
	mustWrite(t, marker, "x")
	if err := runtimes.UnpackImage(ctx, image, dir); err != nil {
		t.Fatalf("second UnpackImage: %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("unpacking the same image again replaced the directory (marker: %v)", err)
	}

	// A different image replaces the directory.
	mustWrite(t, filepath.Join(src, "common/root/etc/extra"), "new")
	if err := runtimes.UnpackImage(ctx, squashImage(t, src), dir); err != nil {
		t.Fatalf("UnpackImage of a new image: %v", err)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("marker after unpacking a different image: got %v, want it gone", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "common/root/etc/extra")); err != nil || string(b) != "new" {
		t.Errorf("common/root/etc/extra = %q, %v; want the new image's content", b, err)
	}
	// No temporary directories are left beside dir.
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("the parent of the unpacked image holds %d entries, want 1", len(entries))
	}

	if err := runtimes.UnpackImage(ctx, filepath.Join(t.TempDir(), "missing.sqfs"), dir); err == nil {
		t.Errorf("UnpackImage of a missing image: got no error")
	}
}
