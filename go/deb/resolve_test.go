package deb

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// stanza writes one index stanza; fields are "Name: value" lines. Every
// package gets a Filename, Size and SHA256 unless fields set them.
func stanza(name, version, arch string, fields ...string) string {
	s := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\n", name, version, arch)
	s += strings.Join(fields, "\n")
	if len(fields) > 0 {
		s += "\n"
	}
	s += fmt.Sprintf("Filename: pool/main/%s_%s_%s.deb\nSize: %d\nSHA256: %064x\n\n", name, version, arch, len(name), len(name)+len(version))
	return s
}

func testIndex(t *testing.T, origin Origin, stanzas ...string) *Index {
	t.Helper()
	idx, err := ReadIndex(strings.NewReader(strings.Join(stanzas, "")), origin)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func names(es []*IndexEntry) string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name+"="+e.Version.String()+":"+e.Architecture)
	}
	return strings.Join(out, " ")
}

func TestResolve(t *testing.T) {
	base := []string{
		stanza("libc6", "2.36-9", "amd64", "Multi-Arch: same", "Priority: optional", "Depends: libgcc-s1"),
		stanza("libgcc-s1", "12.2.0-14", "amd64", "Multi-Arch: same", "Priority: optional", "Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)"),
		stanza("gcc-12-base", "12.2.0-14", "amd64", "Multi-Arch: same", "Priority: required"),
		stanza("bash", "5.2.15-2", "amd64", "Essential: yes", "Priority: required", "Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6)"),
		stanza("libtinfo6", "6.4-4", "amd64", "Priority: optional", "Depends: libc6"),
		stanza("mawk", "1.3.4-3", "amd64", "Multi-Arch: foreign", "Priority: required", "Provides: awk"),
		stanza("gawk", "1:5.2.1-2", "amd64", "Multi-Arch: foreign", "Priority: optional", "Provides: awk"),
		stanza("perl", "5.36.0-7", "amd64", "Multi-Arch: allowed", "Priority: standard"),
		stanza("make", "4.3-4", "amd64", "Multi-Arch: foreign"),
		stanza("plain", "1", "amd64"),
		stanza("tool-arm64", "1", "arm64", "Multi-Arch: foreign"),
		stanza("lib-arm64", "1", "arm64", "Multi-Arch: same"),
		stanza("docs", "1", "all", "Depends: perl:any"),
		stanza("libmpc3", "1.0", "amd64"),
		stanza("old", "1.0", "amd64"),
		stanza("old", "2.0", "amd64"),
		stanza("old", "3.0", "amd64"),
		stanza("virt-a", "1", "amd64", "Provides: vee (= 2.0)"),
		stanza("virt-b", "1", "amd64", "Provides: vee"),
	}
	for _, tc := range []struct {
		name             string
		extra            []string
		roots            []string
		includeEssential bool
		want             string
		wantExcluded     string
		wantErr          string
	}{
		{
			name:         "essential and required left out",
			extra:        []string{stanza("app", "1", "amd64", "Depends: bash, libc6")},
			roots:        []string{"app"},
			want:         "app=1:amd64 libc6=2.36-9:amd64 libgcc-s1=12.2.0-14:amd64",
			wantExcluded: "bash=5.2.15-2:amd64 gcc-12-base=12.2.0-14:amd64",
		},
		{
			name:             "include essential",
			extra:            []string{stanza("app", "1", "amd64", "Depends: bash, libc6")},
			roots:            []string{"app"},
			includeEssential: true,
			want:             "app=1:amd64 bash=5.2.15-2:amd64 gcc-12-base=12.2.0-14:amd64 libc6=2.36-9:amd64 libgcc-s1=12.2.0-14:amd64 libtinfo6=6.4-4:amd64",
		},
		{
			name:         "essential root is included",
			roots:        []string{"bash"},
			want:         "bash=5.2.15-2:amd64 libc6=2.36-9:amd64 libgcc-s1=12.2.0-14:amd64 libtinfo6=6.4-4:amd64",
			wantExcluded: "gcc-12-base=12.2.0-14:amd64",
		},
		{
			name:  "cycle",
			roots: []string{"libc6"},
			want:  "libc6=2.36-9:amd64 libgcc-s1=12.2.0-14:amd64",
			// libc6 -> libgcc-s1 -> libc6 is visited once.
			wantExcluded: "gcc-12-base=12.2.0-14:amd64",
		},
		{
			name:  "first alternative with a candidate",
			extra: []string{stanza("app", "1", "amd64", "Depends: missing | gawk | plain")},
			roots: []string{"app"},
			want:  "app=1:amd64 gawk=1:5.2.1-2:amd64",
		},
		{
			name:  "alternative already chosen wins",
			extra: []string{stanza("app", "1", "amd64", "Depends: gawk | plain")},
			roots: []string{"app", "plain"},
			want:  "app=1:amd64 plain=1:amd64",
		},
		{
			name:  "alternatives restricted to other arch are dropped",
			extra: []string{stanza("app", "1", "amd64", "Depends: gawk [arm64] | plain [!arm64], make [arm64]")},
			roots: []string{"app"},
			want:  "app=1:amd64 plain=1:amd64",
		},
		{
			name:         "virtual package: required provider preferred, not added",
			extra:        []string{stanza("app", "1", "amd64", "Depends: awk")},
			roots:        []string{"app"},
			want:         "app=1:amd64",
			wantExcluded: "mawk=1.3.4-3:amd64",
		},
		{
			name:  "virtual package: provider already chosen",
			extra: []string{stanza("app", "1", "amd64", "Depends: awk")},
			roots: []string{"app", "gawk"},
			want:  "app=1:amd64 gawk=1:5.2.1-2:amd64",
		},
		{
			name:  "versioned provides",
			extra: []string{stanza("app", "1", "amd64", "Depends: vee (>= 2)")},
			roots: []string{"app"},
			want:  "app=1:amd64 virt-a=1:amd64",
		},
		{
			name:    "unversioned provides does not meet a versioned relation",
			extra:   []string{stanza("app", "1", "amd64", "Depends: vee (>= 3)")},
			roots:   []string{"app"},
			wantErr: "app -> vee (>= 3): no candidate in the index (virt-a provides vee (= 2.0); virt-b provides it without a version)",
		},
		{
			name:  "highest satisfying version",
			extra: []string{stanza("app", "1", "amd64", "Depends: old (<< 3)")},
			roots: []string{"app"},
			want:  "app=1:amd64 old=2.0:amd64",
		},
		{
			name:  "root with version",
			roots: []string{"old=1.0"},
			want:  "old=1.0:amd64",
		},
		{
			name:    "root version not in index",
			roots:   []string{"old=9"},
			wantErr: "old (= 9): no candidate in the index (old 1.0 does not satisfy = 9; old 2.0 does not satisfy = 9; old 3.0 does not satisfy = 9)",
		},
		{
			name:    "version chosen earlier conflicts",
			extra:   []string{stanza("app", "1", "amd64", "Depends: old (>= 3)")},
			roots:   []string{"app", "old=1.0"},
			wantErr: "app -> old (>= 3): no candidate in the index (old 1.0 does not satisfy >= 3; old 2.0 does not satisfy >= 3; old 3.0 would, but 1.0 was chosen for old)",
		},
		{
			name: "unsatisfiable names the chain",
			extra: []string{
				stanza("gcc", "1", "amd64", "Depends: cpp-12"),
				stanza("cpp-12", "1", "amd64", "Depends: libmpc3 (>= 1.1)"),
			},
			roots:   []string{"gcc"},
			wantErr: "gcc -> cpp-12 -> libmpc3 (>= 1.1): no candidate in the index (libmpc3 1.0 does not satisfy >= 1.1)",
		},
		{
			name:    "missing package",
			extra:   []string{stanza("app", "1", "amd64", "Depends: nosuch | alsonot (>= 1)")},
			roots:   []string{"app"},
			wantErr: "app -> nosuch | alsonot (>= 1): no candidate in the index (nosuch is not in the index; alsonot is not in the index)",
		},
		{
			name:    "missing root",
			roots:   []string{"nosuch"},
			wantErr: "nosuch: no candidate in the index (nosuch is not in the index)",
		},
		{
			name:  "multi-arch foreign from another arch",
			extra: []string{stanza("app", "1", "amd64", "Depends: tool-arm64")},
			roots: []string{"app"},
			want:  "app=1:amd64 tool-arm64=1:arm64",
		},
		{
			name:    "multi-arch same from another arch does not fit",
			extra:   []string{stanza("app", "1", "amd64", "Depends: lib-arm64")},
			roots:   []string{"app"},
			wantErr: "app -> lib-arm64: no candidate in the index (lib-arm64 1 is arm64)",
		},
		{
			name:  "explicit arch qualifier",
			extra: []string{stanza("app", "1", "amd64", "Depends: lib-arm64:arm64")},
			roots: []string{"app"},
			want:  "app=1:amd64 lib-arm64=1:arm64",
		},
		{
			name:  "root with arch",
			roots: []string{"lib-arm64:arm64"},
			want:  "lib-arm64=1:arm64",
		},
		{
			name:  ":any met by Multi-Arch: allowed, from an arch all package",
			roots: []string{"docs"},
			want:  "docs=1:all perl=5.36.0-7:amd64",
		},
		{
			name:    ":any not met by a plain package",
			extra:   []string{stanza("app", "1", "amd64", "Depends: plain:any")},
			roots:   []string{"app"},
			wantErr: "app -> plain:any: no candidate in the index (plain 1 is amd64 and not Multi-Arch: allowed)",
		},
		{
			name:  ":native",
			extra: []string{stanza("app", "1", "amd64", "Depends: plain:native")},
			roots: []string{"app"},
			want:  "app=1:amd64 plain=1:amd64",
		},
		{
			name:    "malformed depends when reached",
			extra:   []string{stanza("app", "1", "amd64", "Depends: plain (>="), stanza("top", "1", "all", "Depends: app")},
			roots:   []string{"top"},
			wantErr: "top -> app: Depends: relation",
		},
		{
			name:    "bad root",
			roots:   []string{"a (>= 1)"},
			wantErr: `package "a (>= 1)": want name`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx := testIndex(t, Origin{}, append(append([]string(nil), base...), tc.extra...)...)
			res, err := Resolve([]*Index{idx}, tc.roots, ResolveOptions{Arch: "amd64", IncludeEssential: tc.includeEssential})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(res.Packages); got != tc.want {
				t.Errorf("packages:\n got %s\nwant %s", got, tc.want)
			}
			if got := names(res.Excluded); got != tc.wantExcluded {
				t.Errorf("excluded:\n got %s\nwant %s", got, tc.wantExcluded)
			}
		})
	}
}

func TestResolveUnsatisfiableIsErrUnsatisfiable(t *testing.T) {
	idx := testIndex(t, Origin{}, stanza("a", "1", "amd64", "Depends: b"))
	_, err := Resolve([]*Index{idx}, []string{"a"}, ResolveOptions{Arch: "amd64"})
	if !errors.Is(err, ErrUnsatisfiable) {
		t.Fatalf("got %v, want ErrUnsatisfiable", err)
	}
}

func TestResolveIndexOrder(t *testing.T) {
	// The same version in two indexes: the first index wins; a higher
	// version in a later index wins over both.
	first := testIndex(t, Origin{Suite: "first"}, stanza("a", "1", "amd64"), stanza("b", "1", "amd64"))
	second := testIndex(t, Origin{Suite: "second"}, stanza("a", "1", "amd64"), stanza("b", "1+deb12u1", "amd64"))
	res, err := Resolve([]*Index{first, second}, []string{"b", "a"}, ResolveOptions{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Packages {
		got = append(got, e.Name+" "+e.Version.String()+" "+e.Index.Origin.Suite)
	}
	if want := "a 1 first, b 1+deb12u1 second"; strings.Join(got, ", ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, ", "), want)
	}
}

func TestResolveOptionsErrors(t *testing.T) {
	idx := testIndex(t, Origin{}, stanza("a", "1", "amd64"))
	if _, err := Resolve([]*Index{idx}, []string{"a"}, ResolveOptions{}); err == nil {
		t.Error("no arch: no error")
	}
	if _, err := Resolve([]*Index{idx}, nil, ResolveOptions{Arch: "amd64"}); err == nil {
		t.Error("no roots: no error")
	}
}
