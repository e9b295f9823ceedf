package builder_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/actiond/actiond/go/runtimes/builder"
	"github.com/actiond/actiond/go/squashfs"
)

// runtimeTree makes a runtime-like directory: modes that differ from 0555,
// a symlink, a hard link pair and an empty directory.
func runtimeTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "runtime")
	for _, step := range []func() error{
		func() error { return os.MkdirAll(filepath.Join(dir, "root/lib/empty"), 0o755) },
		func() error { return os.MkdirAll(filepath.Join(dir, "root/bin"), 0o700) },
		func() error { return os.WriteFile(filepath.Join(dir, "root/lib/libc.so.6"), []byte("elf"), 0o644) },
		func() error { return os.WriteFile(filepath.Join(dir, "root/bin/bash-static"), []byte("#!"), 0o755) },
		func() error {
			return os.Link(filepath.Join(dir, "root/bin/bash-static"), filepath.Join(dir, "root/bin/bash"))
		},
		func() error { return os.Symlink("lib", filepath.Join(dir, "root/lib64")) },
		func() error { return os.WriteFile(filepath.Join(dir, "runtime_manifest.json"), []byte("{}\n"), 0o644) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeTarFile(t *testing.T, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := builder.WriteTar(dir, &buf); err != nil {
		t.Fatalf("WriteTar: %v", err)
	}
	out := filepath.Join(t.TempDir(), "runtime.tar")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteTarEntries(t *testing.T) {
	archive, err := os.Open(writeTarFile(t, runtimeTree(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer archive.Close()
	type entry struct {
		Name     string
		Type     byte
		Mode     int64
		Linkname string
	}
	var got []entry
	tr := tar.NewReader(archive)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || !hdr.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: uid %d, gid %d, time %v: want root and time 0", hdr.Name, hdr.Uid, hdr.Gid, hdr.ModTime)
		}
		got = append(got, entry{hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Linkname})
	}
	want := []entry{
		{"./", tar.TypeDir, 0o555, ""},
		{"./root/", tar.TypeDir, 0o555, ""},
		{"./root/bin/", tar.TypeDir, 0o555, ""},
		{"./root/bin/bash", tar.TypeReg, 0o555, ""},
		{"./root/bin/bash-static", tar.TypeLink, 0o555, "./root/bin/bash"},
		{"./root/lib/", tar.TypeDir, 0o555, ""},
		{"./root/lib/empty/", tar.TypeDir, 0o555, ""},
		{"./root/lib/libc.so.6", tar.TypeReg, 0o555, ""},
		{"./root/lib64", tar.TypeSymlink, 0o777, "lib"},
		{"./runtime_manifest.json", tar.TypeReg, 0o555, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries:\ngot  %v\nwant %v", got, want)
	}
}

func TestWriteTarIsDeterministic(t *testing.T) {
	a := writeTarFile(t, runtimeTree(t))
	// The same tree made again, at another path, at another time.
	other := runtimeTree(t)
	if err := os.Chtimes(filepath.Join(other, "root/lib/libc.so.6"), time.Unix(1e9, 0), time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	b := writeTarFile(t, other)
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Errorf("two archives of the same tree differ (%d and %d bytes)", len(ab), len(bb))
	}
}

// The image of a runtime archive equals that of its tree with every file
// and directory made 0555, so images do not depend on which one was packed.
func TestWriteTarImageEqualsTreeImage(t *testing.T) {
	dir := runtimeTree(t)
	archive := writeTarFile(t, dir)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		return os.Chmod(p, 0o555)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error { return os.Chmod(p, 0o755) })
	})
	images := map[string][]byte{}
	for name, add := range map[string]func(*squashfs.Builder) error{
		"tree": func(b *squashfs.Builder) error { return b.AddTree("libc/glibc2.36/x86_64", dir) },
		"tar":  func(b *squashfs.Builder) error { return b.AddTar("libc/glibc2.36/x86_64", archive) },
	} {
		b, err := squashfs.NewBuilder(squashfs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := add(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var buf bytes.Buffer
		if _, err := b.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		images[name] = buf.Bytes()
	}
	if !bytes.Equal(images["tree"], images["tar"]) {
		t.Errorf("the image of the archive (%d bytes) differs from the image of the 0555 tree (%d bytes)", len(images["tar"]), len(images["tree"]))
	}
}
