package deb_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/deb"
)

func newTree(t *testing.T) (*deb.Tree, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	tree, err := deb.NewTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tree.Close() })
	return tree, dir
}

func TestTreeRejectsHostileEntries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		entries  []tarEntry
		want     error
		wantText string
	}{
		{"dotdot name", []tarEntry{
			{name: "./usr/../../evil", typeflag: tar.TypeReg, content: "x"},
		}, deb.ErrUnsafePath, `"./usr/../../evil"`},
		{"absolute name", []tarEntry{
			{name: "/etc/passwd", typeflag: tar.TypeReg, content: "x"},
		}, deb.ErrUnsafePath, `"/etc/passwd"`},
		{"relative symlink out of the root", []tarEntry{
			{name: "./usr/lib/escape", typeflag: tar.TypeSymlink, linkname: "../../../etc/passwd"},
		}, deb.ErrUnsafePath, `"usr/lib/escape"`},
		{"write through a symlink", []tarEntry{
			{name: "./usr/lib/", typeflag: tar.TypeDir},
			{name: "./lib", typeflag: tar.TypeSymlink, linkname: "usr/lib"},
			{name: "./lib/libc.so.6", typeflag: tar.TypeReg, content: "x"},
		}, deb.ErrUnsafePath, `"lib/libc.so.6"`},
		{"symlink chain out of the root", []tarEntry{
			{name: "./a/up", typeflag: tar.TypeSymlink, linkname: ".."},
			{name: "./a/up/escape", typeflag: tar.TypeSymlink, linkname: "../x"},
		}, deb.ErrUnsafePath, `"a/up/escape"`},
		{"hard link with dotdot", []tarEntry{
			{name: "./a", typeflag: tar.TypeLink, linkname: "../outside"},
		}, deb.ErrUnsafePath, `"a"`},
		{"absolute hard link", []tarEntry{
			{name: "./a", typeflag: tar.TypeLink, linkname: "/etc/shadow"},
		}, deb.ErrUnsafePath, `"/etc/shadow"`},
		{"hard link to a missing file", []tarEntry{
			{name: "./a", typeflag: tar.TypeLink, linkname: "./b"},
		}, deb.ErrMalformed, `"b"`},
		{"character device", []tarEntry{
			{name: "./dev/null", typeflag: tar.TypeChar},
		}, deb.ErrUnsupportedEntry, `"dev/null"`},
		{"fifo", []tarEntry{
			{name: "./run/fifo", typeflag: tar.TypeFifo},
		}, deb.ErrUnsupportedEntry, `"run/fifo"`},
		{"empty symlink target", []tarEntry{
			{name: "./empty", typeflag: tar.TypeSymlink, linkname: ""},
		}, deb.ErrMalformed, `"empty"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree, dir := newTree(t)
			err := tree.AddTar("hostile", bytes.NewReader(writeTar(t, tc.entries...)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("AddTar: got error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not name %s", err, tc.wantText)
			}
			// Nothing may appear next to the tree.
			siblings, err := os.ReadDir(filepath.Dir(dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(siblings) != 1 {
				t.Errorf("the tree's parent holds %d entries, want only the tree", len(siblings))
			}
		})
	}
}

func TestTreeRewritesAbsoluteSymlinks(t *testing.T) {
	for _, tc := range []struct {
		name, target, want string
	}{
		{"lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
		{"usr/bin/passwd", "/../../../etc/passwd", "../../etc/passwd"},
		{"a/b/c", "/a/b/d", "d"},
		{"toplevel", "/", "."},
		{"usr/lib/relative", "x86_64-linux-gnu/libc.so.6", "x86_64-linux-gnu/libc.so.6"},
		{"usr/lib/up", "../bin/tool", "../bin/tool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree, dir := newTree(t)
			err := tree.AddTar("links", bytes.NewReader(writeTar(t,
				tarEntry{name: "./" + tc.name, typeflag: tar.TypeSymlink, linkname: tc.target})))
			if err != nil {
				t.Fatalf("AddTar: %v", err)
			}
			checkLink(t, dir, tc.name, tc.want)
			resolved := filepath.Join(dir, filepath.Dir(tc.name), tc.want)
			if rel, err := filepath.Rel(dir, resolved); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s -> %s resolves to %s, outside the root %s", tc.name, tc.want, resolved, dir)
			}
		})
	}
}

func TestTreeDuplicatePaths(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first, dupe tarEntry
		want        error // nil: the duplicate is accepted
	}{
		{"identical file",
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeReg, content: "same"},
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeReg, content: "same"}, nil},
		{"different content",
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeReg, content: "one"},
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeReg, content: "two"}, deb.ErrDuplicatePath},
		{"different mode",
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeReg, content: "same", mode: 0o644},
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeReg, content: "same", mode: 0o755}, deb.ErrDuplicatePath},
		{"file then directory",
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeReg, content: "one"},
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeDir}, deb.ErrDuplicatePath},
		{"directory then file",
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeDir},
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeReg, content: "one"}, deb.ErrDuplicatePath},
		{"same symlink",
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeSymlink, linkname: "y"},
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeSymlink, linkname: "y"}, nil},
		{"same symlink spelled absolute",
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeSymlink, linkname: "y"},
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeSymlink, linkname: "/usr/lib/y"}, nil},
		{"different symlink",
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeSymlink, linkname: "y"},
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeSymlink, linkname: "z"}, deb.ErrDuplicatePath},
		{"symlink then file",
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeSymlink, linkname: "y"},
			tarEntry{name: "./usr/lib/x", typeflag: tar.TypeReg, content: "y"}, deb.ErrDuplicatePath},
		{"directories merge",
			tarEntry{name: "./usr/lib/", typeflag: tar.TypeDir},
			tarEntry{name: "./usr/lib/", typeflag: tar.TypeDir}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree, dir := newTree(t)
			if err := tree.AddTar("pkg-one", bytes.NewReader(writeTar(t, tc.first))); err != nil {
				t.Fatalf("first AddTar: %v", err)
			}
			err := tree.AddTar("pkg-two", bytes.NewReader(writeTar(t, tc.dupe)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("second AddTar: got error %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				for _, s := range []string{`"usr/lib/x"`, "pkg-one", "pkg-two"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %s", err, s)
					}
				}
				return
			}
			if tc.first.typeflag == tar.TypeReg {
				checkFile(t, dir, "usr/lib/x", tc.first.content, 0o644)
			}
		})
	}
}

func TestTreeHardLinksAndModes(t *testing.T) {
	tree, dir := newTree(t)
	err := tree.AddTar("links", bytes.NewReader(writeTar(t,
		tarEntry{name: "./bin/", typeflag: tar.TypeDir, mode: 0o555},
		tarEntry{name: "./bin/tool", typeflag: tar.TypeReg, content: "tool", mode: 0o4755},
		tarEntry{name: "./bin/alias", typeflag: tar.TypeLink, linkname: "./bin/tool"},
		tarEntry{name: "./usr/share/doc/x", typeflag: tar.TypeReg, content: "doc"},
	)))
	if err != nil {
		t.Fatalf("AddTar: %v", err)
	}
	if err := tree.Link("bin/tool", "usr/bin/tool2"); err != nil {
		t.Fatalf("Link: %v", err)
	}
	if err := tree.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	tool, err := os.Stat(filepath.Join(dir, "bin/tool"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tool.Mode()&(os.ModePerm|os.ModeSetuid), 0o755|os.ModeSetuid; got != want {
		t.Errorf("bin/tool mode = %v, want %v", got, want)
	}
	for _, name := range []string{"bin/alias", "usr/bin/tool2"} {
		other, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(tool, other) {
			t.Errorf("%s is not a hard link of bin/tool", name)
		}
	}
	bin, err := os.Stat(filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if got := bin.Mode().Perm(); got != 0o555 {
		t.Errorf("bin mode = %v, want 0555 (applied after extraction)", got)
	}
	if err := tree.Link("bin/missing", "bin/other"); !errors.Is(err, deb.ErrMissingMember) {
		t.Errorf("Link of a missing file: got error %v, want %v", err, deb.ErrMissingMember)
	}
	// Make the read-only directory removable for t.TempDir's cleanup.
	os.Chmod(filepath.Join(dir, "bin"), 0o755)
}

func TestTreeMergeUsr(t *testing.T) {
	for _, tc := range []struct {
		name      string
		entries   []tarEntry
		wantLinks map[string]string
		wantReal  []string          // top-level directories that must stay directories
		lookups   map[string]string // Lookup name -> resolved regular file
	}{
		{"trixie libc6",
			[]tarEntry{
				{name: "./usr/lib/x86_64-linux-gnu/libc.so.6", typeflag: tar.TypeReg, content: "libc"},
				{name: "./usr/lib64/ld-linux-x86-64.so.2", typeflag: tar.TypeSymlink, linkname: "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
			},
			map[string]string{"lib": "usr/lib", "lib64": "usr/lib64"},
			nil,
			map[string]string{"lib/x86_64-linux-gnu/libc.so.6": "usr/lib/x86_64-linux-gnu/libc.so.6"}},
		{"bookworm libc6",
			[]tarEntry{
				{name: "./lib/x86_64-linux-gnu/libc.so.6", typeflag: tar.TypeReg, content: "libc"},
				{name: "./lib64/ld-linux-x86-64.so.2", typeflag: tar.TypeSymlink, linkname: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
				{name: "./usr/lib/x86_64-linux-gnu/", typeflag: tar.TypeDir},
			},
			map[string]string{},
			[]string{"lib", "lib64"},
			map[string]string{"lib/x86_64-linux-gnu/libc.so.6": "lib/x86_64-linux-gnu/libc.so.6"}},
		{"usr/bin and usr/sbin",
			[]tarEntry{
				{name: "./usr/bin/bash", typeflag: tar.TypeReg, content: "bash"},
				{name: "./usr/sbin/init", typeflag: tar.TypeReg, content: "init"},
			},
			map[string]string{"bin": "usr/bin", "sbin": "usr/sbin"},
			nil,
			map[string]string{"bin/bash": "usr/bin/bash"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree, dir := newTree(t)
			if err := tree.AddTar("pkg", bytes.NewReader(writeTar(t, tc.entries...))); err != nil {
				t.Fatalf("AddTar: %v", err)
			}
			if err := tree.MergeUsr(); err != nil {
				t.Fatalf("MergeUsr: %v", err)
			}
			if err := tree.Finish(); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			for _, top := range []string{"bin", "lib", "lib64", "sbin"} {
				want, isLink := tc.wantLinks[top]
				info, err := os.Lstat(filepath.Join(dir, top))
				switch {
				case isLink:
					checkLink(t, dir, top, want)
				case err == nil && info.Mode()&os.ModeSymlink != 0:
					t.Errorf("%s is a symlink, want none", top)
				}
			}
			if strings.HasPrefix(tc.name, "bookworm") {
				// Its only usr/ entry is an empty directory, removed.
				if _, err := os.Lstat(filepath.Join(dir, "usr")); !os.IsNotExist(err) {
					t.Errorf("usr: got Lstat error %v, want the empty directory removed", err)
				}
			}
			for _, top := range tc.wantReal {
				if info, err := os.Lstat(filepath.Join(dir, top)); err != nil || !info.IsDir() {
					t.Errorf("%s: got %v, %v; want a real directory", top, info, err)
				}
			}
			for name, want := range tc.lookups {
				if got, isDir, ok := tree.Lookup(name); !ok || isDir || got != want {
					t.Errorf("Lookup(%q) = %q, %v, %v; want %q, false, true", name, got, isDir, ok, want)
				}
			}
		})
	}
}

func TestParseIndex(t *testing.T) {
	index := `Package: libc6
Version: 2.36-9+deb12u14
Architecture: amd64
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb
SHA256: ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf
Description: GNU C Library: Shared libraries
 Contains the standard libraries.
 .
 More text.

Package: bash-static
Version: 5.2.15-2+b13
Architecture: amd64
`
	got, err := deb.ParseIndex(strings.NewReader(index))
	if err != nil {
		t.Fatalf("ParseIndex: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("ParseIndex returned %d stanzas, want 2", len(got))
	}
	for _, tc := range []struct {
		stanza      int
		field, want string
	}{
		{0, "Package", "libc6"},
		{0, "filename", "pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb"},
		{0, "Description", "GNU C Library: Shared libraries\nContains the standard libraries.\n.\nMore text."},
		{1, "Version", "5.2.15-2+b13"},
		{1, "SHA256", ""},
	} {
		if v := got[tc.stanza].Get(tc.field); v != tc.want {
			t.Errorf("stanza %d %s = %q, want %q", tc.stanza, tc.field, v, tc.want)
		}
	}
	for name, bad := range map[string]string{
		"continuation first": " leading continuation\nPackage: x\n",
		"no colon":           "Package x\n",
		"no Package field":   "Version: 1\n",
	} {
		if _, err := deb.ParseIndex(strings.NewReader(bad)); !errors.Is(err, deb.ErrMalformed) {
			t.Errorf("%s: got error %v, want %v", name, err, deb.ErrMalformed)
		}
	}
}
