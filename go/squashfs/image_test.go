package squashfs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/squashfs"
)

func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install -y squashfs-tools); CI has it", name)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mountImage mounts img read-only with the kernel's squashfs and returns
// the mount point; cleanup unmounts it and detaches the loop device.
func mountImage(t *testing.T, img string) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("mounting a squashfs image needs root; CI runs as root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop devices: %v", err)
	}
	dir := t.TempDir()
	run(t, "mount", "-t", "squashfs", "-o", "loop,ro", img, dir)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
		// mount -o loop sets autoclear, but detach explicitly in case.
		out, _ := exec.Command("losetup", "-j", img).Output()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if dev, _, ok := strings.Cut(line, ":"); ok {
				_ = exec.Command("losetup", "-d", dev).Run()
			}
		}
	})
	return dir
}

func writeImage(t *testing.T, b *squashfs.Builder) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "image.sqfs")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteTo(f); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return img
}

func TestImagesReadByKernelAndUnsquashfs(t *testing.T) {
	unsquashfs := requireTool(t, "unsquashfs")
	fixtures := makeFixtures(t)

	tests := []struct {
		name     string
		opts     squashfs.Options
		fixture  fixtureKind
		wantStat []string
	}{
		{
			name: "zstd", opts: squashfs.Options{Compression: squashfs.Zstd}, fixture: fixtureFull,
			wantStat: []string{"Compression zstd", "Block size 131072", "Data is compressed", "Number of ids 1"},
		},
		{
			name: "gzip", opts: squashfs.Options{Compression: squashfs.Gzip}, fixture: fixtureFull,
			wantStat: []string{"Compression gzip", "Data is compressed"},
		},
		{
			name: "none", opts: squashfs.Options{Compression: squashfs.None}, fixture: fixtureFull,
			wantStat: []string{"Data is uncompressed", "Inodes are uncompressed", "Fragments are uncompressed"},
		},
		{
			// Small blocks: many blocks per file, many fragment blocks.
			name: "zstd 4 KiB blocks", opts: squashfs.Options{Compression: squashfs.Zstd, BlockSize: 4096, Level: 3}, fixture: fixtureSmall,
			wantStat: []string{"Block size 4096"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := fixtures[tc.fixture]
			b := newBuilder(t, tc.opts)
			if err := b.AddTree("", src); err != nil {
				t.Fatal(err)
			}
			img := writeImage(t, b)

			stat := run(t, unsquashfs, "-stat", img)
			for _, want := range append(tc.wantStat, "Creation or last append time Thu Jan  1 00:00:00 1970") {
				if !strings.Contains(stat, want) {
					t.Errorf("unsquashfs -stat lacks %q:\n%s", want, stat)
				}
			}
			wantLLS := []string{
				"-rwsr-xr-x root/root                 4 1970-01-01 00:00 squashfs-root/modes/setuid",
				"squashfs-root/links/relative -> ../a.txt",
			}
			if tc.fixture == fixtureFull {
				wantLLS = append(wantLLS, "squashfs-root/bigdir/entry-09999-"+strings.Repeat("x", 49), "/l99/leaf")
			}
			lls := run(t, unsquashfs, "-lls", img)
			for _, want := range wantLLS {
				if !strings.Contains(lls, want) {
					t.Errorf("unsquashfs -lls lacks %q", want)
				}
			}

			extracted := filepath.Join(t.TempDir(), "x")
			run(t, unsquashfs, "-no-xattrs", "-d", extracted, img)
			compareTrees(t, src, dirTree(extracted), false)

			compareTrees(t, src, dirTree(mountImage(t, img)), true)
		})
	}
}

func TestInMemoryEntries(t *testing.T) {
	b := newBuilder(t, squashfs.Options{Compression: squashfs.Gzip})
	for _, err := range []error{
		b.AddFile("common/root/etc/hosts", []byte("127.0.0.1 localhost\n"), 0o644),
		b.AddDir("common/root/tmp", 0o777|os.ModeSticky),
		b.AddDir("common", 0o711),
		b.AddSymlink("common/root/etc/mtab", "/proc/self/mounts"),
		b.AddFile("bin/tool", randomBytes(9, 200_000), 0o755),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := t.TempDir()
	mkdir(t, filepath.Join(want, "common"), 0o711)
	writeFile(t, filepath.Join(want, "common/root/etc/hosts"), []byte("127.0.0.1 localhost\n"), 0o644)
	mkdir(t, filepath.Join(want, "common/root/tmp"), 0o777|os.ModeSticky)
	symlink(t, "/proc/self/mounts", filepath.Join(want, "common/root/etc/mtab"))
	writeFile(t, filepath.Join(want, "bin/tool"), randomBytes(9, 200_000), 0o755)
	mkdir(t, want, 0o755)
	compareTrees(t, want, dirTree(mountImage(t, writeImage(t, b))), true)
}
