package squashfs_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/actiond/actiond/go/squashfs"
)

// tarTree writes dir as a tar archive, the way `tar -C dir -cf - .` does:
// a "./" entry first, hard links as links to their first name.
func tarTree(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tree.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	first := map[uint64]string{} // inode -> first name
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var target string
		if info.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, target)
		if err != nil {
			return err
		}
		hdr.Name = "./" + filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		} else if st := info.Sys().(*syscall.Stat_t); st.Nlink > 1 {
			if name, ok := first[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, name, 0
			} else {
				first[st.Ino] = hdr.Name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeTar writes an archive of the given headers, each regular file
// holding its name as contents.
func writeTar(t *testing.T, headers ...*tar.Header) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range headers {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(h.Name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.tar")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAddTarGivesTheImageOfAddTree(t *testing.T) {
	dir := t.TempDir()
	makeFixture(t, dir, fixtureFull)
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	archive := tarTree(t, dir)
	for _, imagePath := range []string{"", "libc/glibc2.36/x86_64"} {
		fromTree := newBuilder(t, squashfs.Options{})
		if err := fromTree.AddTree(imagePath, dir); err != nil {
			t.Fatal(err)
		}
		fromTar := newBuilder(t, squashfs.Options{})
		if err := fromTar.AddTar(imagePath, archive); err != nil {
			t.Fatalf("AddTar(%q): %v", imagePath, err)
		}
		if a, b := image(t, fromTar), image(t, fromTree); !bytes.Equal(a, b) {
			t.Errorf("at %q: the image from the tar (%d bytes) differs from the one from the tree (%d bytes)", imagePath, len(a), len(b))
		}
	}
}

func TestAddTarEntriesInAnyOrder(t *testing.T) {
	// Children before their directory, and no "./" entry: the directory
	// gets its mode when it comes, the root 0755.
	archive := writeTar(t,
		&tar.Header{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o640},
		&tar.Header{Name: "d/l", Typeflag: tar.TypeSymlink, Linkname: "f"},
		&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o700},
	)
	fromTar := newBuilder(t, squashfs.Options{})
	if err := fromTar.AddTar("img", archive); err != nil {
		t.Fatal(err)
	}
	want := newBuilder(t, squashfs.Options{})
	for _, err := range []error{
		want.AddDir("img", 0o755),
		want.AddDir("img/d", 0o700),
		want.AddFile("img/d/f", []byte("d/f"), 0o640),
		want.AddSymlink("img/d/l", "f"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(image(t, fromTar), image(t, want)) {
		t.Error("the image from the tar differs from the one built entry by entry")
	}
}

func TestAddTarErrors(t *testing.T) {
	tests := []struct {
		name     string
		headers  []*tar.Header
		want     error
		wantText string
	}{
		{"absolute name", []*tar.Header{file("/etc/passwd")}, squashfs.ErrInvalidPath, "/etc/passwd"},
		{"dot-dot", []*tar.Header{file("a/../../b")}, squashfs.ErrInvalidPath, "a/../../b"},
		{"hard link to a later entry", []*tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "f"}, file("f")}, squashfs.ErrInvalidPath, `hard link to "f"`},
		{"hard link to a directory", []*tar.Header{{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "h", Typeflag: tar.TypeLink, Linkname: "d"}}, squashfs.ErrInvalidPath, `hard link to "d"`},
		{"device", []*tar.Header{{Name: "null", Typeflag: tar.TypeChar, Mode: 0o666}}, squashfs.ErrUnsupportedFileType, `"null"`},
		{"fifo", []*tar.Header{{Name: "p", Typeflag: tar.TypeFifo, Mode: 0o666}}, squashfs.ErrUnsupportedFileType, `"p"`},
		{"same path twice", []*tar.Header{file("f"), file("f")}, squashfs.ErrDuplicatePath, `"img/f"`},
		{"root as a file", []*tar.Header{file(".")}, squashfs.ErrInvalidPath, `"."`},
		{"root twice", []*tar.Header{{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: ".", Typeflag: tar.TypeDir, Mode: 0o755}}, squashfs.ErrInvalidPath, `"."`},
		{"path already in the image", []*tar.Header{file("etc/hosts")}, squashfs.ErrDuplicatePath, `"img/etc/hosts"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			archive := writeTar(t, tc.headers...)
			b := newBuilder(t, squashfs.Options{})
			if err := b.AddFile("img/etc/hosts", nil, 0o644); err != nil {
				t.Fatal(err)
			}
			err := b.AddTar("img", archive)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), archive) {
				t.Errorf("AddTar: got %v, want %v naming %s and %s", err, tc.want, archive, tc.wantText)
			}
		})
	}
	if err := newBuilder(t, squashfs.Options{}).AddTar("img", filepath.Join(t.TempDir(), "missing.tar")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("AddTar of a missing archive: got %v, want ErrNotExist", err)
	}
}

func TestAddTarFileChangedBeforeWriteTo(t *testing.T) {
	archive := writeTar(t, file("a"), file("b"))
	b := newBuilder(t, squashfs.Options{})
	if err := b.AddTar("", archive); err != nil {
		t.Fatal(err)
	}
	// Cut the archive where the data of "b" begins: two headers and a's
	// padded data.
	if err := os.Truncate(archive, 3*512); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteTo(&bytes.Buffer{}); !errors.Is(err, squashfs.ErrFileChanged) {
		t.Errorf("WriteTo after the archive shrank: got %v, want ErrFileChanged", err)
	}
}

// file is a regular file entry with mode 0644.
func file(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}
}
