package deb

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

const sampleIndex = `Package: libc6
Version: 2.36-9+deb12u14
Architecture: amd64
Multi-Arch: same
Priority: optional
Depends: libgcc-s1
Description: GNU C Library
 folded line one
 .
 folded line two
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb
Size: 2759320
SHA256: ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf

Package: mawk
Version: 1.3.4.20200120-3.1
Architecture: amd64
Multi-Arch: foreign
Priority: required
Provides: awk
Pre-Depends: libc6 (>= 2.34)
Filename: pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb
Size: 1
SHA256: 0000000000000000000000000000000000000000000000000000000000000001

Package: bash
Essential: yes
Version: 5.2.15-2+b7
Architecture: amd64
Provides: sh (= 1.0), shell
Filename: pool/main/b/bash/bash_5.2.15-2+b7_amd64.deb
Size: 2
SHA256: 0000000000000000000000000000000000000000000000000000000000000002
`

func TestReadIndexCompressions(t *testing.T) {
	compressors := map[string]func(io.Writer) io.WriteCloser{
		"plain": func(w io.Writer) io.WriteCloser { return nopCloser{w} },
		"gzip":  func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
		"xz": func(w io.Writer) io.WriteCloser {
			xw, err := xz.NewWriter(w)
			if err != nil {
				t.Fatal(err)
			}
			return xw
		},
		"zstd": func(w io.Writer) io.WriteCloser {
			zw, err := zstd.NewWriter(w)
			if err != nil {
				t.Fatal(err)
			}
			return zw
		},
		"lz4": func(w io.Writer) io.WriteCloser { return lz4.NewWriter(w) },
	}
	for name, compress := range compressors {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w := compress(&buf)
			if _, err := io.WriteString(w, sampleIndex); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			idx, err := ReadIndex(&buf, Origin{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range idx.Entries {
				got = append(got, fmt.Sprintf("%s %s %s ma=%s ess=%v prio=%s dep=%q pre=%q prov=%v file=%s size=%d sha=%s",
					e.Name, e.Version, e.Architecture, e.MultiArch, e.Essential, e.Priority, e.Depends, e.PreDepends,
					e.Provides, e.Filename, e.Size, e.SHA256[:4]))
				if e.Index != idx {
					t.Errorf("%s: Index not set", e.Name)
				}
			}
			want := []string{
				`libc6 2.36-9+deb12u14 amd64 ma=same ess=false prio=optional dep="libgcc-s1" pre="" prov=[] file=pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb size=2759320 sha=ba4f`,
				`mawk 1.3.4.20200120-3.1 amd64 ma=foreign ess=false prio=required dep="" pre="libc6 (>= 2.34)" prov=[awk] file=pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb size=1 sha=0000`,
				`bash 5.2.15-2+b7 amd64 ma= ess=true prio= dep="" pre="" prov=[sh (= 1.0) shell] file=pool/main/b/bash/bash_5.2.15-2+b7_amd64.deb size=2 sha=0000`,
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func TestReadIndexErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
	}{
		{"no package", "Version: 1\nArchitecture: all\n"},
		{"no version", "Package: a\nArchitecture: all\n"},
		{"no architecture", "Package: a\nVersion: 1\n"},
		{"bad version", "Package: a\nVersion: x:1\nArchitecture: all\n"},
		{"bad size", "Package: a\nVersion: 1\nArchitecture: all\nSize: -3\n"},
		{"bad sha256", "Package: a\nVersion: 1\nArchitecture: all\nSHA256: abc\n"},
		{"alternatives in provides", "Package: a\nVersion: 1\nArchitecture: all\nProvides: b | c\n"},
		{"ranged provides", "Package: a\nVersion: 1\nArchitecture: all\nProvides: b (>= 1)\n"},
		{"continuation first", " x\nPackage: a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadIndex(strings.NewReader(tc.text), Origin{}); !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
	// A malformed Depends is only an error when a resolution reaches it.
	if _, err := ReadIndex(strings.NewReader("Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>=\n"), Origin{}); err != nil {
		t.Errorf("malformed Depends at read time: %v", err)
	}
}

func TestOriginFromPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want Origin
	}{
		{"/var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4",
			Origin{Archive: "http://deb.debian.org/debian-security", Suite: "bookworm-security", Component: "main", Arch: "amd64"}},
		{"lists/deb.debian.org_debian_dists_bookworm_main_binary-arm64_Packages",
			Origin{Archive: "http://deb.debian.org/debian", Suite: "bookworm", Component: "main", Arch: "arm64"}},
		{"lists/host%5fname_x_dists_sid_main_binary-amd64_Packages.gz",
			Origin{Archive: "http://host_name/x", Suite: "sid", Component: "main", Arch: "amd64"}},
		{"/tmp/Packages", Origin{}},
	} {
		tc.want.Path = tc.path
		if got := OriginFromPath(tc.path); got != tc.want {
			t.Errorf("OriginFromPath(%q) = %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

// aptLists returns apt's downloaded Packages indexes for arch, or skips.
func aptLists(t *testing.T, dir, arch string) []string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*_binary-"+arch+"_Packages*"))
	if len(paths) == 0 {
		t.Skipf("no %s Packages indexes in %s (run apt-get update)", arch, dir)
	}
	return paths
}

func TestReadIndexFileAptLists(t *testing.T) {
	paths := aptLists(t, "/var/lib/apt/lists", "amd64")
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
		idx, err := ReadIndexFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if idx.Origin.Archive == "" || len(idx.Entries) == 0 {
			t.Errorf("%s: origin %+v, %d entries", p, idx.Origin, len(idx.Entries))
		}
	}
}
