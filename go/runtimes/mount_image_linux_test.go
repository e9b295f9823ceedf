//go:build linux

package runtimes_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/runtimes"
)

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
