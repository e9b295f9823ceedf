package deb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/actiond/actiond/go/deb"
)

// sentinels are the errors every refusal of malformed or hostile input
// wraps (errors.go).
var sentinels = []error{
	deb.ErrNotAr, deb.ErrTruncated, deb.ErrMalformed, deb.ErrMissingMember,
	deb.ErrUnsupportedFormat, deb.ErrUnknownCompression, deb.ErrUnsafePath,
	deb.ErrDuplicatePath, deb.ErrUnsupportedEntry, deb.ErrTooManyEntries,
}

func checkSentinel(t *testing.T, what string, err error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("%s: error %q wraps none of the package's sentinel errors", what, err)
}

// compress returns data compressed for an ar member named with ext.
func compress(t testing.TB, ext string, data []byte) []byte {
	var b bytes.Buffer
	var w io.WriteCloser
	var err error
	switch ext {
	case ".gz":
		w = gzip.NewWriter(&b)
	case ".xz":
		w, err = xz.NewWriter(&b)
	case ".zst":
		w, err = zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1))
	default:
		return data
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzRead parses arbitrary files as .debs: the ar archive, the
// debian-binary version, the compressed control.tar and the control file.
// Every refusal must wrap one of the package's sentinel errors; an
// accepted package has a control file with valid field names and a
// data.tar member in a compression the package reads.
func FuzzRead(f *testing.F) {
	control := writeTar(f, tarEntry{name: "./control", typeflag: tar.TypeReg, content: testControl})
	data := writeTar(f, tarEntry{name: "./usr/bin/hello", typeflag: tar.TypeReg, content: "#!/bin/sh\n"})
	for _, ext := range []string{"", ".gz", ".xz", ".zst"} {
		f.Add(writeAr(
			arMember{"debian-binary", []byte("2.0\n")},
			arMember{"control.tar" + ext, compress(f, ext, control)},
			arMember{"data.tar" + ext, compress(f, ext, data)},
		))
	}
	f.Add(writeAr(arMember{"debian-binary", nil}))
	f.Add(writeAr(arMember{"debian-binary", []byte("2.0\n")}, arMember{"control.tar.bz2", nil}, arMember{"data.tar", nil}))
	f.Add([]byte("!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := deb.Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			checkSentinel(t, "Read", err)
			return
		}
		if len(p.Control.Fields) == 0 {
			t.Fatal("accepted a package without control fields")
		}
		for _, fd := range p.Control.Fields {
			if fd.Name == "" || strings.ContainsAny(fd.Name, " \t\n:") {
				t.Fatalf("accepted the control field name %q", fd.Name)
			}
		}
		if !strings.HasPrefix(p.DataMember(), "data.tar") {
			t.Fatalf("data member %q", p.DataMember())
		}
		rc, err := p.Data()
		if err != nil {
			checkSentinel(t, "Data", err)
			return
		}
		defer rc.Close()
		// Bounded: a tiny member may inflate to gigabytes.
		if _, err := io.Copy(io.Discard, io.LimitReader(rc, 1<<20)); err != nil {
			checkSentinel(t, "reading data.tar", err)
		}
	})
}

// FuzzParseIndex parses deb822 text (control files and Packages indexes).
// Refusals wrap ErrMalformed; accepted paragraphs have field names
// without blanks or colons, and written back in deb822 they parse to the
// same fields.
func FuzzParseIndex(f *testing.F) {
	f.Add(testControl)
	f.Add("Package: a\nVersion: 1\nDepends: b (>= 2), c | d\n\n# comment\nPackage: b\nDescription: x\n .\n more\n")
	f.Add(" continuation first\n")
	f.Add("Package: a\r\nBad Field: x\n")
	f.Fuzz(func(t *testing.T, text string) {
		paras, err := deb.ParseIndex(strings.NewReader(text))
		if err != nil {
			if !errors.Is(err, deb.ErrMalformed) {
				t.Fatalf("ParseIndex: %v, want ErrMalformed", err)
			}
			return
		}
		var out strings.Builder
		for _, p := range paras {
			if p.Package() == "" {
				t.Fatalf("accepted a stanza without Package: %+v", p)
			}
			for _, fd := range p.Fields {
				if fd.Name == "" || strings.ContainsAny(fd.Name, " \t\r\n:") || fd.Name[0] == '#' {
					t.Fatalf("accepted the field name %q", fd.Name)
				}
				out.WriteString(fd.Name + ": " + strings.ReplaceAll(fd.Value, "\n", "\n ") + "\n")
			}
			out.WriteString("\n")
		}
		again, err := deb.ParseIndex(strings.NewReader(out.String()))
		if err != nil || len(again) != len(paras) {
			t.Fatalf("written back as %q: %d paragraphs, %v; want %d", out.String(), len(again), err, len(paras))
		}
		for i := range paras {
			if len(again[i].Fields) != len(paras[i].Fields) {
				t.Fatalf("paragraph %d written back as %q: %+v, want %+v", i, out.String(), again[i], paras[i])
			}
			for j, fd := range paras[i].Fields {
				if again[i].Fields[j] != fd {
					t.Fatalf("paragraph %d written back as %q: field %+v, want %+v", i, out.String(), again[i].Fields[j], fd)
				}
			}
		}
	})
}

// FuzzTree extracts arbitrary tar streams into a runtime tree. Refusals
// wrap a sentinel error; whatever happens, nothing is created outside the
// tree's directory; and an accepted tree holds only directories, regular
// files and symlinks whose targets are relative and stay inside the tree
// when resolved lexically.
func FuzzTree(f *testing.F) {
	for _, entries := range [][]tarEntry{
		{
			{name: "./", typeflag: tar.TypeDir},
			{name: "./usr/bin/tool", typeflag: tar.TypeReg, mode: 0o4755, content: "x"},
			{name: "./usr/bin/link", typeflag: tar.TypeSymlink, linkname: "tool"},
			{name: "./usr/lib/abs", typeflag: tar.TypeSymlink, linkname: "/usr/bin/tool"},
			{name: "./usr/bin/hard", typeflag: tar.TypeLink, linkname: "./usr/bin/tool"},
			{name: "./usr/share/doc/x/copyright", typeflag: tar.TypeReg, content: "pruned"},
		},
		{{name: "../escape", typeflag: tar.TypeReg, content: "x"}},
		{{name: "lib", typeflag: tar.TypeSymlink, linkname: "../.."}},
		{{name: "d", typeflag: tar.TypeSymlink, linkname: "/"}, {name: "d/x", typeflag: tar.TypeReg, content: "through"}},
		{{name: "a", typeflag: tar.TypeReg, content: "1"}, {name: "a", typeflag: tar.TypeReg, content: "2"}},
		{{name: "up", typeflag: tar.TypeSymlink, linkname: "."}, {name: "x/esc", typeflag: tar.TypeSymlink, linkname: "../up/.."}},
		{{name: "dev", typeflag: tar.TypeChar}},
	} {
		f.Add(writeTar(f, entries...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Skip streams that declare much data: a sparse entry expands a
		// few bytes into gigabytes of zeros.
		tr := tar.NewReader(bytes.NewReader(data))
		var total int64
		for n := 0; ; n++ {
			h, err := tr.Next()
			if err != nil {
				break
			}
			total += max(h.Size, 0)
			if total > 1<<20 || n > 256 {
				return
			}
		}
		base := t.TempDir()
		dir := filepath.Join(base, "tree")
		tree, err := deb.NewTree(dir)
		if err != nil {
			t.Fatal(err)
		}
		err = tree.AddTar("fuzz", bytes.NewReader(data))
		if err == nil {
			err = tree.Finish()
		} else {
			tree.Close()
		}
		if names, rerr := os.ReadDir(base); rerr != nil || len(names) != 1 {
			t.Fatalf("the tree's parent holds %v, %v; want only the tree", names, rerr)
		}
		if err != nil {
			checkSentinel(t, "AddTar", err)
			return
		}
		werr := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			switch mode := e.Type(); {
			case mode.IsDir(), mode.IsRegular():
			case mode&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				if path.IsAbs(target) {
					t.Fatalf("symlink %q has the absolute target %q", rel, target)
				}
				// Lexically, every prefix (a ".." climbs from wherever
				// the components before it led).
				comps := strings.Split(target, "/")
				for i := range comps {
					r := path.Join("/tree", path.Dir(rel), strings.Join(comps[:i+1], "/"))
					if r != "/tree" && !strings.HasPrefix(r, "/tree/") {
						t.Fatalf("symlink %q to %q leaves the tree", rel, target)
					}
				}
			default:
				t.Fatalf("%q has the mode %v", rel, mode)
			}
			return nil
		})
		if werr != nil {
			t.Fatal(werr)
		}
	})
}
