package deb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/deb"
)

func TestOpenCompressions(t *testing.T) {
	files := map[string]string{
		"usr/bin/hello":                           "#!/bin/sh\necho hello\n",
		"usr/share/doc/hello/copyright":           "copyright",
		"usr/share/man/man1/hello.1":              "manual",
		"usr/lib/x86_64-linux-gnu/gconv/UTF-7.so": "gconv module",
		"usr/lib/x86_64-linux-gnu/ld.so":          "loader",
		"usr/lib64/ld.so":                         "->/usr/lib/x86_64-linux-gnu/ld.so",
		"etc/hello.conf":                          "config",
	}
	for _, tc := range []struct{ compression, member string }{
		{"xz", "data.tar.xz"},
		{"zstd", "data.tar.zst"},
		{"gzip", "data.tar.gz"},
		{"none", "data.tar"},
	} {
		t.Run(tc.compression, func(t *testing.T) {
			p, err := deb.Open(dpkgDeb(t, tc.compression, files))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer p.Close()
			if got := p.DataMember(); got != tc.member {
				t.Errorf("DataMember() = %q, want %q", got, tc.member)
			}
			for field, want := range map[string]string{
				"Package":      "hello",
				"version":      "1.0-1",
				"Architecture": "amd64",
				"Description":  "test package\nwith a continuation line",
			} {
				if got := p.Control.Get(field); got != want {
					t.Errorf("Control.Get(%q) = %q, want %q", field, got, want)
				}
			}
			dir := filepath.Join(t.TempDir(), "root")
			tree, err := deb.NewTree(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := tree.AddPackage(p); err != nil {
				t.Fatalf("AddPackage: %v", err)
			}
			if err := tree.MergeUsr(); err != nil {
				t.Fatal(err)
			}
			if err := tree.Finish(); err != nil {
				t.Fatal(err)
			}
			checkFile(t, dir, "usr/bin/hello", files["usr/bin/hello"], 0o755)
			checkFile(t, dir, "usr/lib/x86_64-linux-gnu/ld.so", "loader", 0o755)
			for _, gone := range []string{"usr/share/doc", "usr/share/man", "usr/lib/x86_64-linux-gnu/gconv", "etc", "DEBIAN"} {
				if _, err := os.Lstat(filepath.Join(dir, gone)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: got Lstat error %v, want it pruned", gone, err)
				}
			}
			checkLink(t, dir, "usr/lib64/ld.so", "../lib/x86_64-linux-gnu/ld.so")
			// Merged-/usr: the package has usr/bin, usr/lib, usr/lib64 only.
			checkLink(t, dir, "bin", "usr/bin")
			checkLink(t, dir, "lib", "usr/lib")
			checkLink(t, dir, "lib64", "usr/lib64")
			checkFile(t, dir, "lib64/ld.so", "loader", 0o755)
		})
	}
}

func checkFile(t *testing.T, dir, name, want string, wantMode os.FileMode) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Errorf("reading %s: %v", name, err)
		return
	}
	if string(got) != want {
		t.Errorf("%s = %q, want %q", name, got, want)
	}
	info, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != wantMode {
		t.Errorf("%s mode = %v, want %v", name, info.Mode().Perm(), wantMode)
	}
}

func checkLink(t *testing.T, dir, name, want string) {
	t.Helper()
	got, err := os.Readlink(filepath.Join(dir, name))
	if err != nil {
		t.Errorf("Readlink(%s): %v", name, err)
		return
	}
	if got != want {
		t.Errorf("%s -> %q, want -> %q", name, got, want)
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestReadErrors(t *testing.T) {
	control := writeTar(t, tarEntry{name: "./control", typeflag: tar.TypeReg, content: testControl})
	data := writeTar(t, tarEntry{name: "./usr/bin/hello", typeflag: tar.TypeReg, content: "hello"})
	valid := hostileDeb(t, data)
	for _, tc := range []struct {
		name     string
		input    []byte
		want     error
		wantText string
	}{
		{"empty file", nil, deb.ErrNotAr, "empty file"},
		{"bad magic", append([]byte("!<arxh>\n"), valid[8:]...), deb.ErrNotAr, "magic"},
		{"gzip file", gzipped(t, data), deb.ErrNotAr, "magic"},
		{"short magic", []byte("!<ar"), deb.ErrTruncated, "ar magic"},
		{"truncated member data", valid[:len(valid)-100], deb.ErrTruncated, `"data.tar"`},
		{"truncated header", valid[:8+60+4+30], deb.ErrTruncated, "ar header"},
		{"bad header end", append(append([]byte{}, valid[:8+58]...), 'x', 'y'), deb.ErrMalformed, "end marker"},
		{"unknown compression", writeAr(
			arMember{"debian-binary", []byte("2.0\n")},
			arMember{"control.tar", control},
			arMember{"data.tar.bz2", []byte("BZh9")},
		), deb.ErrUnknownCompression, `"bz2"`},
		{"unknown control compression", writeAr(
			arMember{"debian-binary", []byte("2.0\n")},
			arMember{"control.tar.lzma", []byte("x")},
			arMember{"data.tar", data},
		), deb.ErrUnknownCompression, "control.tar.lzma"},
		{"no data member", writeAr(
			arMember{"debian-binary", []byte("2.0\n")},
			arMember{"control.tar", control},
		), deb.ErrMissingMember, "data.tar"},
		{"no debian-binary", writeAr(
			arMember{"control.tar", control},
			arMember{"data.tar", data},
		), deb.ErrMissingMember, "debian-binary"},
		{"format 3.0", writeAr(
			arMember{"debian-binary", []byte("3.0\n")},
			arMember{"control.tar", control},
			arMember{"data.tar", data},
		), deb.ErrUnsupportedFormat, `"3.0"`},
		{"no control file", writeAr(
			arMember{"debian-binary", []byte("2.0\n")},
			arMember{"control.tar", writeTar(t, tarEntry{name: "./md5sums", typeflag: tar.TypeReg, content: "x"})},
			arMember{"data.tar", data},
		), deb.ErrMissingMember, "no control file"},
		{"truncated control tar", writeAr(
			arMember{"debian-binary", []byte("2.0\n")},
			arMember{"control.tar.gz", gzipped(t, control)[:40]},
			arMember{"data.tar", data},
		), deb.ErrTruncated, "control.tar.gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := deb.Read(bytes.NewReader(tc.input), int64(len(tc.input)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read: got error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("Read error %q does not mention %q", err, tc.wantText)
			}
		})
	}
}

// TestTruncatedRealDeb cuts a dpkg-deb made package at many offsets: every
// cut must be reported as truncation, never accepted or misread.
func TestTruncatedRealDeb(t *testing.T) {
	name := dpkgDeb(t, "xz", map[string]string{"usr/bin/hello": strings.Repeat("hello\n", 1000)})
	full, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deb.Read(bytes.NewReader(full), int64(len(full))); err != nil {
		t.Fatalf("Read of the whole package: %v", err)
	}
	for _, tc := range []struct {
		size int
		want error
	}{
		{1, deb.ErrTruncated},
		{7, deb.ErrTruncated},
		{20, deb.ErrTruncated},
		{68, deb.ErrTruncated},
		{150, deb.ErrTruncated},
		{len(full) / 2, deb.ErrTruncated},
		{len(full) - 1, deb.ErrTruncated},
		// Cuts at a member boundary leave a well-formed ar archive that
		// lacks members, and say so.
		{8, deb.ErrMissingMember},
		{8 + 60 + 4, deb.ErrMissingMember},
	} {
		_, err := deb.Read(bytes.NewReader(full[:tc.size]), int64(tc.size))
		if !errors.Is(err, tc.want) {
			t.Errorf("Read of the first %d of %d bytes: got error %v, want %v", tc.size, len(full), err, tc.want)
		}
	}
}

func TestTruncatedDataStream(t *testing.T) {
	control := writeTar(t, tarEntry{name: "./control", typeflag: tar.TypeReg, content: testControl})
	data := gzipped(t, writeTar(t, tarEntry{name: "./usr/bin/hello", typeflag: tar.TypeReg, content: strings.Repeat("x", 100000)}))
	// The ar member is complete, but the gzip stream inside it is cut.
	b := writeAr(
		arMember{"debian-binary", []byte("2.0\n")},
		arMember{"control.tar", control},
		arMember{"data.tar.gz", data[:len(data)/2]},
	)
	p, err := deb.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	tree, err := deb.NewTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	err = tree.AddPackage(p)
	if !errors.Is(err, deb.ErrTruncated) {
		t.Fatalf("AddPackage: got error %v, want %v", err, deb.ErrTruncated)
	}
	if !strings.Contains(err.Error(), "data.tar.gz") {
		t.Errorf("error %q does not name data.tar.gz", err)
	}
}
