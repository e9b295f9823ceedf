//go:build linux

package guest

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEarlyMountsPlan(t *testing.T) {
	want := []struct{ target, fstype string }{
		{"/proc", "proc"}, {"/sys", "sysfs"}, {"/dev", "devtmpfs"},
		{"/sys/fs/cgroup", "cgroup2"}, {"/tmp", "tmpfs"}, {"/run", "tmpfs"},
	}
	got := EarlyMounts()
	if len(got) != len(want) {
		t.Fatalf("EarlyMounts has %d mounts, want %d: %+v", len(got), len(want), got)
	}
	for i, m := range got {
		if m.Target != want[i].target || m.FSType != want[i].fstype {
			t.Errorf("mount %d = %s on %s, want %s on %s", i, m.FSType, m.Target, want[i].fstype, want[i].target)
		}
		if m.Flags&unix.MS_NOSUID == 0 {
			t.Errorf("%s is mounted without nosuid", m.Target)
		}
	}
	if cas := CASMount("/dev/vda"); cas.FSType != "ext4" || cas.Flags&unix.MS_NOATIME == 0 || cas.Flags&unix.MS_RDONLY != 0 {
		t.Errorf("CASMount = %+v, want ext4, noatime, read-write", cas)
	}
	if rt := RuntimeMount("/dev/vdb"); rt.FSType != "squashfs" || rt.Flags&unix.MS_RDONLY == 0 || rt.Target != RuntimeDir {
		t.Errorf("RuntimeMount = %+v, want squashfs read-only on %s", rt, RuntimeDir)
	}
}

// TestMountUnderScratchAreas performs the tmpfs mounts of the plan below a
// temporary root and checks their modes.
func TestMountUnderScratchAreas(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	root := t.TempDir()
	var targets []string
	for _, m := range EarlyMounts() {
		if m.FSType != "tmpfs" {
			continue
		}
		if err := mountUnder(root, m); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, filepath.Join(root, m.Target))
	}
	t.Cleanup(func() {
		if err := unmountAll(targets); err != nil {
			t.Error(err)
		}
	})
	for target, mode := range map[string]os.FileMode{"/tmp": 0o777 | os.ModeSticky, "/run": 0o755} {
		fi, err := os.Stat(filepath.Join(root, target))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModePerm | os.ModeSticky); got != mode {
			t.Errorf("%s has mode %v, want %v", target, got, mode)
		}
		var st unix.Statfs_t
		if err := unix.Statfs(filepath.Join(root, target), &st); err != nil || st.Type != unix.TMPFS_MAGIC {
			t.Errorf("%s is not a tmpfs (type %#x, %v)", target, st.Type, err)
		}
	}
}
