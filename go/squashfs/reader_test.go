package squashfs_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/actiond/actiond/go/squashfs"
)

// compareImage checks that the image read by rd holds exactly the tree at
// want: types, permission bits, contents, symlink targets, link counts and
// shared inodes of hard links.
func compareImage(t *testing.T, want string, rd *squashfs.Reader) {
	t.Helper()
	errs := 0
	fail := func(format string, args ...any) {
		t.Helper()
		if errs++; errs <= 20 {
			t.Errorf(format, args...)
		}
	}
	inodes := map[uint64]uint32{}
	entries := 0
	err := filepath.WalkDir(want, func(wp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		entries++
		rel, _ := filepath.Rel(want, wp)
		name := filepath.ToSlash(rel)
		wi, err := os.Lstat(wp)
		if err != nil {
			return err
		}
		gi, err := rd.Lstat(name)
		if err != nil {
			fail("%s: %v", name, err)
			return nil
		}
		if gi.Mode() != wi.Mode() {
			fail("%s: mode %v, want %v", name, gi.Mode(), wi.Mode())
			return nil
		}
		ws, gs := wi.Sys().(*syscall.Stat_t), gi.Sys().(*squashfs.InodeInfo)
		switch {
		case wi.IsDir():
			wn := names(t, wp)
			gn, err := rd.ReadDir(name)
			if err != nil || len(gn) != len(wn) {
				fail("%s: %d entries (%v), want %d", name, len(gn), err, len(wn))
			}
		case wi.Mode()&fs.ModeSymlink != 0:
			wt, _ := os.Readlink(wp)
			if gt, err := rd.ReadLink(name); err != nil || gt != wt {
				fail("%s: symlink target %q (%v), want %q", name, gt, err, wt)
			}
		default:
			wb, err := os.ReadFile(wp)
			if err != nil {
				return err
			}
			if gb, err := rd.ReadFile(name); err != nil || !bytes.Equal(gb, wb) {
				fail("%s: content of %d bytes (%v) differs from the %d wanted", name, len(gb), err, len(wb))
			}
			if uint64(gs.Nlink) != uint64(ws.Nlink) {
				fail("%s: link count %d, want %d", name, gs.Nlink, ws.Nlink)
			}
			if prev, ok := inodes[ws.Ino]; ok && prev != gs.Number {
				fail("%s: inode %d, want %d shared with its hard links", name, gs.Number, prev)
			}
			inodes[ws.Ino] = gs.Number
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", want, err)
	}
	if entries < 2 {
		t.Fatalf("walked only %d entries of %s", entries, want)
	}
}

func TestReaderRoundTrip(t *testing.T) {
	fixtures := map[fixtureKind]string{fixtureFull: t.TempDir(), fixtureSmall: t.TempDir()}
	for kind, dir := range fixtures {
		makeFixture(t, dir, kind)
	}
	tests := []struct {
		name    string
		opts    squashfs.Options
		fixture fixtureKind
	}{
		{"zstd", squashfs.Options{Compression: squashfs.Zstd, Level: 3}, fixtureFull},
		{"gzip", squashfs.Options{Compression: squashfs.Gzip, Level: 1}, fixtureSmall},
		{"none 4 KiB blocks", squashfs.Options{Compression: squashfs.None, BlockSize: 4096}, fixtureSmall},
		{"zstd 1 MiB blocks", squashfs.Options{Compression: squashfs.Zstd, BlockSize: 1 << 20, Level: 1}, fixtureSmall},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t, tc.opts)
			if err := b.AddTree("", fixtures[tc.fixture]); err != nil {
				t.Fatal(err)
			}
			rd, err := squashfs.NewReader(bytes.NewReader(image(t, b)))
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			compareImage(t, fixtures[tc.fixture], rd)
			if tc.fixture == fixtureSmall {
				if err := fstest.TestFS(rd, "a.txt", "links/one", "links/relative", "sparse", "dups/49", "nested/empty/again"); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestReaderReadsMksquashfsImages checks the reader against images of the
// reference writer, so the round trip above is not a reader and a writer
// agreeing on the same mistake.
func TestReaderReadsMksquashfsImages(t *testing.T) {
	mksquashfs := requireTool(t, "mksquashfs")
	src := t.TempDir()
	makeFixture(t, src, fixtureSmall)
	for _, args := range [][]string{
		{"-comp", "zstd"},
		{"-comp", "gzip", "-always-use-fragments"},
		{"-noI", "-noD", "-noF", "-b", "4096"},
	} {
		t.Run(args[len(args)-1], func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "mk.sqfs")
			cmd := append([]string{src, img, "-noappend", "-all-root", "-no-xattrs", "-quiet", "-no-progress"}, args...)
			if out, err := exec.Command(mksquashfs, cmd...).CombinedOutput(); err != nil {
				t.Fatalf("mksquashfs: %v\n%s", err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rd, err := squashfs.NewReader(f)
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			compareImage(t, src, rd)
		})
	}
}

func TestReaderRejectsGarbage(t *testing.T) {
	for _, data := range [][]byte{nil, make([]byte, 96), bytes.Repeat([]byte("hsqs"), 100)} {
		if _, err := squashfs.NewReader(bytes.NewReader(data)); err == nil {
			t.Errorf("NewReader of %d bytes of garbage succeeded", len(data))
		}
	}
}
