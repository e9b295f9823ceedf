package runtimes_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/squashfs"
)

// squashImage packs dir with this project's squashfs.Builder, as the
// runtime images are built.
func squashImage(t *testing.T, dir string) string {
	t.Helper()
	b, err := squashfs.NewBuilder(squashfs.Options{Compression: squashfs.Zstd})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddTree("", dir); err != nil {
		t.Fatal(err)
	}
	return writeImage(t, b)
}

func writeImage(t *testing.T, b *squashfs.Builder) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(t.TempDir(), "runtimes.sqfs")
	if err := os.WriteFile(image, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return image
}

// mksquashfsImage packs dir with the real mksquashfs.
func mksquashfsImage(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs is not installed: apt-get install -y squashfs-tools")
	}
	image := filepath.Join(t.TempDir(), "runtimes.sqfs")
	out, err := exec.Command("mksquashfs", dir, image, "-noappend", "-all-root", "-no-xattrs", "-no-progress", "-quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	return image
}

func TestUnpackImage(t *testing.T) {
	ctx := context.Background()
	src := standardImage(t)
	image := squashImage(t, src)
	dir := filepath.Join(t.TempDir(), "runtimes")

	var calls [][2]int64
	record := func(done, total int64) { calls = append(calls, [2]int64{done, total}) }
	if err := runtimes.UnpackImage(ctx, image, dir, record); err != nil {
		t.Fatalf("UnpackImage: %v", err)
	}
	// Progress counts every directory, file and symlink once, up to
	// the image's inode count.
	inodes := map[uint64]bool{}
	filepath.Walk(src, func(_ string, info os.FileInfo, err error) error {
		if err == nil {
			inodes[info.Sys().(*syscall.Stat_t).Ino] = true
		}
		return err
	})
	if n := int64(len(inodes)); len(calls) != len(inodes) || calls[len(calls)-1] != [2]int64{n, n} {
		t.Errorf("progress: %d calls ending in %v, want %d ending in [%d %d]", len(calls), calls[len(calls)-1:], n, n, n)
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
	calls = nil
	if err := runtimes.UnpackImage(ctx, image, dir, record); err != nil {
		t.Fatalf("second UnpackImage: %v", err)
	}
	if len(calls) != 0 {
		t.Errorf("progress with nothing to unpack: %d calls, want none", len(calls))
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("unpacking the same image again replaced the directory (marker: %v)", err)
	}

	// A different image replaces the directory.
	mustWrite(t, filepath.Join(src, "common/root/etc/extra"), "new")
	if err := runtimes.UnpackImage(ctx, squashImage(t, src), dir, nil); err != nil {
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

	if err := runtimes.UnpackImage(ctx, filepath.Join(t.TempDir(), "missing.sqfs"), dir, nil); err == nil {
		t.Errorf("UnpackImage of a missing image: got no error")
	}
}

// unpackFixture fills dir with what an image may hold: nested and
// read-only directories, modes, hard links, symlinks (relative, absolute,
// dangling), an empty file, a multi-block file and a sparse one.
func unpackFixture(t *testing.T, dir string) {
	t.Helper()
	write := func(name string, data []byte, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("bin/tool", []byte("#!/bin/sh\necho hi\n"), 0o755)
	write("etc/secret", []byte("s"), 0o600)
	write("empty", nil, 0o644)
	write("lib/big.so", bytes.Repeat([]byte("0123456789abcdef"), 40000), 0o644)
	sparse := filepath.Join(dir, "lib/sparse")
	write("lib/sparse", nil, 0o644)
	f, err := os.OpenFile(sparse, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("middle"), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, l := range [][2]string{{"bin/tool", "bin/tool-link"}, {"bin/tool", "lib/tool-link"}} {
		if err := os.Link(filepath.Join(dir, l[0]), filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	for target, name := range map[string]string{"../bin/tool": "lib/rel", "/etc/passwd": "lib/abs", "nowhere": "lib/dangling"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "share/empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "share"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, "share"), 0o755) })
}

// treeEntry is what a user sees of one unpacked path.
type treeEntry struct {
	mode   fs.FileMode
	data   string // file content or symlink target
	mtime  int64  // files and directories
	nlink  uint64
	linked string // the first path sharing this inode
}

// describeTree lists the tree at dir, leaving out the stamp file.
func describeTree(t *testing.T, dir string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	firstOf := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".actiond-image-sha256" {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		e := treeEntry{mode: info.Mode(), nlink: uint64(st.Nlink)}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			e.data, err = os.Readlink(p)
		case info.Mode().IsRegular():
			var b []byte
			b, err = os.ReadFile(p)
			e.data, e.mtime = string(b), info.ModTime().Unix()
			if first, ok := firstOf[st.Ino]; ok {
				e.linked = first
			} else {
				firstOf[st.Ino] = rel
			}
		case info.IsDir():
			e.mtime, e.nlink = info.ModTime().Unix(), 0
		}
		out[rel] = e
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUnpackImageMatchesUnsquashfs unpacks a mksquashfs image with
// UnpackImage and with unsquashfs, the tool it replaces, and compares
// what a user sees.
func TestUnpackImageMatchesUnsquashfs(t *testing.T) {
	unsquashfs, err := exec.LookPath("unsquashfs")
	if err != nil {
		t.Skip("unsquashfs is not installed: apt-get install -y squashfs-tools")
	}
	src := t.TempDir()
	unpackFixture(t, src)
	image := mksquashfsImage(t, src)

	want := filepath.Join(t.TempDir(), "want")
	if out, err := exec.Command(unsquashfs, "-no-progress", "-no-xattrs", "-d", want, image).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, out)
	}
	got := filepath.Join(t.TempDir(), "got")
	if err := runtimes.UnpackImage(context.Background(), image, got, nil); err != nil {
		t.Fatalf("UnpackImage: %v", err)
	}
	wantTree, gotTree := describeTree(t, want), describeTree(t, got)
	if len(wantTree) < 15 {
		t.Fatalf("unsquashfs unpacked only %d entries", len(wantTree))
	}
	for name, w := range wantTree {
		g, ok := gotTree[name]
		switch {
		case !ok:
			t.Errorf("%s: missing", name)
		case g != w:
			t.Errorf("%s: got %+v, want %+v as unsquashfs has it", name, g, w)
		}
	}
	for name := range gotTree {
		if _, ok := wantTree[name]; !ok {
			t.Errorf("%s: unpacked, but unsquashfs has no such entry", name)
		}
	}
	// Holes stay holes.
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(got, "lib/sparse"), &st); err != nil || st.Blocks*512 >= 1<<20 {
		t.Errorf("lib/sparse uses %d bytes of disk (%v), want its holes kept", st.Blocks*512, err)
	}
}

// TestUnpackImageRefusesHostileImages feeds images that try to write
// outside the target directory or hold entries a runtime has no use for:
// each must fail, leave the target absent and write nothing outside it.
func TestUnpackImageRefusesHostileImages(t *testing.T) {
	outside := t.TempDir()
	// renamed builds an uncompressed image, then renames the entry from
	// to to (same length) in its directory listing.
	renamed := func(t *testing.T, build func(b *squashfs.Builder) error, from, to string) string {
		t.Helper()
		b, err := squashfs.NewBuilder(squashfs.Options{Compression: squashfs.None})
		if err != nil {
			t.Fatal(err)
		}
		if err := build(b); err != nil {
			t.Fatal(err)
		}
		image := writeImage(t, b)
		data, err := os.ReadFile(image)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(data, []byte(from)); n != 1 {
			t.Fatalf("the image holds %q %d times, want once", from, n)
		}
		if err := os.WriteFile(image, bytes.Replace(data, []byte(from), []byte(to), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		return image
	}
	tests := []struct {
		name  string
		image func(t *testing.T) string
		want  string
	}{
		{"dot-dot entry", func(t *testing.T) string {
			return renamed(t, func(b *squashfs.Builder) error {
				return b.AddFile("dir/Q7/pwned", []byte("x"), 0o644)
			}, "Q7", "..")
		}, "invalid squashfs image"},
		{"file through a symlink of the same name", func(t *testing.T) string {
			return renamed(t, func(b *squashfs.Builder) error {
				if err := b.AddSymlink("Q7", filepath.Join(outside, "pwned")); err != nil {
					return err
				}
				return b.AddFile("Q8", []byte("x"), 0o644)
			}, "Q8", "Q7")
			// The reader refuses the doubled name before the unpacker's own
			// check (O_EXCL, "file exists") is reached.
		}, "listing not sorted"},
		{"directory through a symlink of the same name", func(t *testing.T) string {
			return renamed(t, func(b *squashfs.Builder) error {
				if err := b.AddSymlink("Q7", outside); err != nil {
					return err
				}
				return b.AddFile("Q8/pwned", []byte("x"), 0o644)
			}, "Q8", "Q7")
		}, "listing not sorted"},
		{"fifo", func(t *testing.T) string {
			src := t.TempDir()
			if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
				t.Fatal(err)
			}
			return mksquashfsImage(t, src)
		}, "device nodes, FIFOs and sockets are not unpacked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			image := tc.image(t)
			parent := t.TempDir()
			dir := filepath.Join(parent, "runtimes")
			err := runtimes.UnpackImage(context.Background(), image, dir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("UnpackImage = %v, want an error containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("a failed unpack left %d entries beside the target (%s)", len(entries), entries[0].Name())
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("the image wrote %s outside the target", entries[0].Name())
			}
		})
	}
}

// TestUnpackImageWritesSymlinksAsSymlinks checks that an absolute symlink
// is unpacked as a link, not as the file it names.
func TestUnpackImageWritesSymlinksAsSymlinks(t *testing.T) {
	outside := t.TempDir()
	b, err := squashfs.NewBuilder(squashfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddSymlink("etc/abs", outside); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "runtimes")
	if err := runtimes.UnpackImage(context.Background(), writeImage(t, b), dir, nil); err != nil {
		t.Fatalf("UnpackImage: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "etc/abs")); err != nil || target != outside {
		t.Errorf("etc/abs = %q, %v; want a symlink to %s", target, err, outside)
	}
}
