package squashfs_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/actiond/actiond/go/squashfs"
)

const blockSize = 128 << 10

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

type fixtureKind int

const (
	fixtureSmall fixtureKind = iota
	fixtureFull
)

// makeFixtures makes one fixture of each kind in temporary directories.
func makeFixtures(t *testing.T) map[fixtureKind]string {
	t.Helper()
	fixtures := map[fixtureKind]string{fixtureFull: t.TempDir(), fixtureSmall: t.TempDir()}
	for kind, dir := range fixtures {
		makeFixture(t, dir, kind)
	}
	return fixtures
}

// makeFixture fills dir with the cases the image must preserve.
func makeFixture(t *testing.T, dir string, kind fixtureKind) {
	t.Helper()
	p := func(rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog\n", 30000))
	writeFile(t, p("a.txt"), []byte("hello\n"), 0o644)
	writeFile(t, p("zero"), nil, 0o644)
	writeFile(t, p("exact"), randomBytes(2, blockSize), 0o644)
	writeFile(t, p("exact_plus_one"), randomBytes(3, blockSize+1), 0o644)
	writeFile(t, p("exact_minus_one"), randomBytes(4, blockSize-1), 0o644)
	writeFile(t, p("two_blocks_and_tail"), randomBytes(5, 2*blockSize+1000), 0o644)
	writeFile(t, p("text"), text, 0o644)
	writeFile(t, p("modes/private"), []byte("secret"), 0o600)
	writeFile(t, p("modes/exec"), []byte("#!/bin/sh\n"), 0o755)
	writeFile(t, p("modes/setuid"), []byte("suid"), 0o755|os.ModeSetuid)
	mkdir(t, p("modes/closed"), 0o700)
	mkdir(t, p("modes/sticky"), 0o777|os.ModeSticky)
	mkdir(t, p("empty"), 0o755)
	mkdir(t, p("nested/empty/again"), 0o755)

	// A sparse-ish file: holes around a little data, then a short tail.
	sparse, err := os.Create(p("sparse"))
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{1 << 20, 3<<20 + 17} {
		if _, err := sparse.WriteAt(randomBytes(uint64(off), 5000), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := sparse.Truncate(4<<20 + 123); err != nil {
		t.Fatal(err)
	}
	sparse.Close()

	// Hard links across directories, and a second, separate group.
	writeFile(t, p("links/one"), []byte("linked content\n"), 0o640)
	link(t, p("links/one"), p("links/two"))
	link(t, p("links/one"), p("other/three"))
	writeFile(t, p("links/big"), randomBytes(6, 3*blockSize+5), 0o644)
	link(t, p("links/big"), p("links/big2"))
	symlink(t, "../a.txt", p("links/relative"))
	symlink(t, "/etc/passwd", p("links/absolute"))
	symlink(t, "nowhere/at/all", p("links/dangling"))

	// Identical files, stored once.
	dup := randomBytes(7, 50_000)
	for i := range 50 {
		writeFile(t, p(fmt.Sprintf("dups/%02d", i)), dup, 0o644)
	}
	if kind == fixtureSmall {
		return
	}

	// A directory of 10,000 entries of varied name lengths and types: its
	// listing spans many metadata blocks and needs an index.
	mkdir(t, p("bigdir"), 0o755)
	for i := range 10_000 {
		name := p(fmt.Sprintf("bigdir/entry-%05d-%s", i, strings.Repeat("x", i%50)))
		switch {
		case i%1000 == 7:
			mkdir(t, name, 0o755)
			writeFile(t, filepath.Join(name, "inside"), []byte(name), 0o644)
		case i%1000 == 9:
			symlink(t, fmt.Sprintf("entry-%05d", i-1), name)
		default:
			writeFile(t, name, []byte(fmt.Sprint(i)), 0o644)
		}
	}

	// 100 levels deep.
	deep := "deep"
	for i := range 100 {
		deep += fmt.Sprintf("/l%02d", i)
	}
	writeFile(t, p(deep+"/leaf"), []byte("bottom\n"), 0o644)

	// Names of 255 bytes, the Linux maximum.
	long := strings.Repeat("L", 255)
	writeFile(t, p("long/"+long), []byte("long name\n"), 0o644)
	writeFile(t, p("long/"+strings.Repeat("D", 255)+"/"+long), []byte("long dir\n"), 0o644)
	symlink(t, long, p("long/"+strings.Repeat("S", 255)))
}

func mkdir(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, oldname, newname string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(newname), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(oldname, newname); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// tree is what compareTrees reads the tree under test through: a
// directory on disk (dirTree) or an image (*squashfs.Reader). Names are
// slash-separated and relative to the tree's root, "." for the root.
type tree interface {
	Lstat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	ReadLink(name string) (string, error)
	ReadFile(name string) ([]byte, error)
}

// dirTree is a tree on disk, rooted at the directory it names.
type dirTree string

func (d dirTree) path(name string) string { return filepath.Join(string(d), filepath.FromSlash(name)) }

func (d dirTree) Lstat(name string) (fs.FileInfo, error)     { return os.Lstat(d.path(name)) }
func (d dirTree) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(d.path(name)) }
func (d dirTree) ReadLink(name string) (string, error)       { return os.Readlink(d.path(name)) }
func (d dirTree) ReadFile(name string) ([]byte, error)       { return os.ReadFile(d.path(name)) }

// inode returns the inode number and link count of a file of either kind
// of tree.
func inode(fi fs.FileInfo) (number, nlink uint64) {
	switch s := fi.Sys().(type) {
	case *syscall.Stat_t:
		return uint64(s.Ino), uint64(s.Nlink)
	case *squashfs.InodeInfo:
		return uint64(s.Number), uint64(s.Nlink)
	}
	panic(fmt.Sprintf("no inode in %T", fi.Sys()))
}

// compareTrees checks that got holds exactly the entries of the directory
// want with the same types, permission bits, contents, symlink targets and
// hard-link structure. With squashfsLinks, got is a squashfs image (mounted
// or read): directory link counts must be 2 plus the number of
// subdirectories.
func compareTrees(t *testing.T, want string, got tree, squashfsLinks bool) {
	t.Helper()
	errs := 0
	fail := func(format string, args ...any) {
		t.Helper()
		if errs++; errs <= 20 {
			t.Errorf(format, args...)
		}
	}
	inodes := map[uint64]uint64{} // want inode -> got inode
	seen := map[uint64]bool{}     // got inodes of files already mapped
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
		gi, err := got.Lstat(name)
		if err != nil {
			fail("%s: %v", name, err)
			return nil
		}
		if gi.Mode() != wi.Mode() {
			fail("%s: mode %v, want %v", name, gi.Mode(), wi.Mode())
			return nil
		}
		wIno, wLinks := inode(wi)
		gIno, gLinks := inode(gi)
		switch {
		case wi.IsDir():
			wn := names(t, wp)
			ge, err := got.ReadDir(name)
			gn := make([]string, len(ge))
			for i, e := range ge {
				gn[i] = e.Name()
			}
			if err != nil || strings.Join(wn, "/") != strings.Join(gn, "/") {
				fail("%s: entries %q (%v), want %q", name, gn, err, wn)
			}
			if squashfsLinks {
				subdirs := 0
				for _, n := range wn {
					if fi, err := os.Lstat(filepath.Join(wp, n)); err == nil && fi.IsDir() {
						subdirs++
					}
				}
				if gLinks != uint64(2+subdirs) {
					fail("%s: link count %d, want %d", name, gLinks, 2+subdirs)
				}
			}
		case wi.Mode()&fs.ModeSymlink != 0:
			wt, _ := os.Readlink(wp)
			if gt, err := got.ReadLink(name); err != nil || gt != wt {
				fail("%s: symlink target %q (%v), want %q", name, gt, err, wt)
			}
		default:
			wb, err := os.ReadFile(wp)
			if err != nil {
				return err
			}
			if gb, err := got.ReadFile(name); err != nil || !bytes.Equal(gb, wb) {
				fail("%s: content of %d bytes (%v) differs from the %d wanted", name, len(gb), err, len(wb))
			}
			if gLinks != wLinks {
				fail("%s: link count %d, want %d", name, gLinks, wLinks)
			}
			if prev, ok := inodes[wIno]; ok {
				if prev != gIno {
					fail("%s: inode %d, want %d shared with its hard links", name, gIno, prev)
				}
			} else {
				if seen[gIno] {
					fail("%s: shares inode %d with a file it is not linked to", name, gIno)
				}
				inodes[wIno] = gIno
				seen[gIno] = true
			}
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

func names(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(n)
	return n
}
