package runtimes_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

func TestMountImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("MountImage needs root (CAP_SYS_ADMIN) for loop devices and mount")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no /dev/loop-control: %v", err)
	}
	ctx := context.Background()
	image := squashImage(t, standardImage(t))
	mountpoint := t.TempDir()
	cleanup, err := runtimes.MountImage(ctx, image, mountpoint)
	if err != nil {
		t.Fatalf("MountImage: %v", err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			cleanup()
		}
	})
	options, ok := mountOptions(t, mountpoint)
	if !ok {
		t.Fatalf("%s is not in /proc/self/mountinfo after MountImage", mountpoint)
	}
	for _, want := range []string{"ro", "nosuid", "nodev"} {
		if !strings.Contains(","+options+",", ","+want+",") {
			t.Errorf("mount options %q lack %s", options, want)
		}
	}
	catalog, err := runtimes.OpenArch(ctx, mountpoint, "x86_64")
	if err != nil {
		t.Fatalf("OpenArch on the mounted image: %v", err)
	}
	if got := catalog.Names(); len(got) != 2 {
		t.Errorf("Names() = %q, want two", got)
	}
	if err := os.WriteFile(filepath.Join(mountpoint, "x"), nil, 0o644); err == nil {
		t.Errorf("writing into the mounted image succeeded, want a read-only mount")
	}
	if err := cleanup(); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	mounted = false
	if _, ok := mountOptions(t, mountpoint); ok {
		t.Errorf("%s is still mounted after cleanup", mountpoint)
	}
}

// mountOptions returns the per-mount options of the mount at mountpoint.
func mountOptions(t *testing.T, mountpoint string) (string, bool) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 5 && fields[4] == mountpoint {
			return fields[5], true
		}
	}
	return "", false
}
