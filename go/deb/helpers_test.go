package deb_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// arMember is one member of an ar archive written by writeAr.
type arMember struct {
	name string
	data []byte
}

// writeAr writes a System V ar archive as dpkg does, so hostile .debs can be
// made without dpkg-deb.
func writeAr(members ...arMember) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.data))
		b.Write(m.data)
		if len(m.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// tarEntry is one entry of a tar written by writeTar.
type tarEntry struct {
	name     string
	typeflag byte
	mode     int64
	linkname string
	content  string
}

func writeTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{
			Name:     e.name,
			Typeflag: e.typeflag,
			Mode:     e.mode,
			Linkname: e.linkname,
			Size:     int64(len(e.content)),
			ModTime:  time.Unix(1700000000, 0),
			Format:   tar.FormatGNU,
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if e.typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if e.typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if e.typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const testControl = "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: Test <t@example.com>\nDescription: test package\n with a continuation line\n"

// hostileDeb wraps an uncompressed data tar into a minimal .deb.
func hostileDeb(t testing.TB, data []byte) []byte {
	t.Helper()
	control := writeTar(t, tarEntry{name: "./control", typeflag: tar.TypeReg, content: testControl})
	return writeAr(
		arMember{"debian-binary", []byte("2.0\n")},
		arMember{"control.tar", control},
		arMember{"data.tar", data},
	)
}

// dpkgDeb builds a .deb from a tree with dpkg-deb --build. files maps
// relative paths to contents; a value starting with "->" makes a symlink.
func dpkgDeb(t *testing.T, compression string, files map[string]string) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed: install dpkg")
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "DEBIAN", "control"), []byte(testControl), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if len(content) > 2 && content[:2] == "->" {
			if err := os.Symlink(content[2:], p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "hello_1.0-1_amd64.deb")
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+compression, "--build", tree, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, b)
	}
	return out
}
