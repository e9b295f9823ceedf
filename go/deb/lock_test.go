package deb

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLockDeterministic(t *testing.T) {
	mk := func(order []string) []byte {
		t.Helper()
		sec := testIndex(t, Origin{Archive: "http://deb.example/debian-security", Suite: "bookworm-security"},
			stanza("libc6", "2.36-9+deb12u1", "amd64", "Depends: libgcc-s1"))
		main := testIndex(t, Origin{Archive: "http://deb.example/debian", Suite: "bookworm"},
			stanza("libc6", "2.36-9", "amd64", "Depends: libgcc-s1"),
			stanza("libgcc-s1", "12.2.0-14", "amd64", "Depends: libc6, gcc-12-base"),
			stanza("gcc-12-base", "12.2.0-14", "amd64", "Priority: required"),
			stanza("app", "1", "all", "Depends: libc6"))
		opts := ResolveOptions{Arch: "amd64"}
		res, err := Resolve([]*Index{main, sec}, order, opts)
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewLock(res, order, opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := mk([]string{"app", "libgcc-s1"})
	b := mk([]string{"libgcc-s1", "app"})
	if !bytes.Equal(a, b) {
		t.Fatalf("two resolutions gave different locks:\n%s\n%s", a, b)
	}
	want := `{
  "version": 1,
  "arch": "amd64",
  "suites": [
    "bookworm",
    "bookworm-security"
  ],
  "roots": [
    "app",
    "libgcc-s1"
  ],
  "include_essential": false,
  "packages": [
    {
      "name": "app",
      "version": "1",
      "arch": "all",
      "suite": "bookworm",
      "archive": "http://deb.example/debian",
      "filename": "pool/main/app_1_all.deb",
      "size": 3,
      "sha256": "0000000000000000000000000000000000000000000000000000000000000004"
    },
    {
      "name": "libc6",
      "version": "2.36-9+deb12u1",
      "arch": "amd64",
      "suite": "bookworm-security",
      "archive": "http://deb.example/debian-security",
      "filename": "pool/main/libc6_2.36-9+deb12u1_amd64.deb",
      "size": 5,
      "sha256": "0000000000000000000000000000000000000000000000000000000000000013"
    },
    {
      "name": "libgcc-s1",
      "version": "12.2.0-14",
      "arch": "amd64",
      "suite": "bookworm",
      "archive": "http://deb.example/debian",
      "filename": "pool/main/libgcc-s1_12.2.0-14_amd64.deb",
      "size": 9,
      "sha256": "0000000000000000000000000000000000000000000000000000000000000012"
    }
  ],
  "excluded": [
    "gcc-12-base=12.2.0-14"
  ]
}
`
	if string(a) != want {
		t.Errorf("lock:\n%s\nwant:\n%s", a, want)
	}
	l, err := ReadLock(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := l.Marshal(); !bytes.Equal(again, a) {
		t.Errorf("read and written again:\n%s", again)
	}
}

func validLock() string {
	return `{"version": 1, "arch": "amd64", "suites": [], "roots": ["a"], "include_essential": false, "excluded": [],
  "packages": [{"name": "a", "version": "1", "arch": "amd64", "filename": "pool/a_1_amd64.deb", "size": 3, "sha256": "` + strings.Repeat("a", 64) + `"}]}`
}

func TestReadLockErrors(t *testing.T) {
	if _, err := ReadLock(strings.NewReader(validLock())); err != nil {
		t.Fatalf("valid lock: %v", err)
	}
	for _, tc := range []struct {
		name, old, new string
		want           error
	}{
		{"version", `"version": 1`, `"version": 2`, ErrMalformed},
		{"unknown field", `"arch": "amd64"`, `"arch": "amd64", "extra": 1`, ErrMalformed},
		{"no arch", `"arch": "amd64"`, `"arch": ""`, ErrMalformed},
		{"short sha", strings.Repeat("a", 64), "abc", ErrMalformed},
		{"upper-case sha", strings.Repeat("a", 64), strings.Repeat("A", 64), ErrMalformed},
		{"zero size", `"size": 3`, `"size": 0`, ErrMalformed},
		{"absolute filename", `pool/a_1_amd64.deb`, `/etc/a_1_amd64.deb`, ErrUnsafePath},
		{"dotdot filename", `pool/a_1_amd64.deb`, `../a_1_amd64.deb`, ErrUnsafePath},
		{"unclean filename", `pool/a_1_amd64.deb`, `pool/../../a_1_amd64.deb`, ErrUnsafePath},
		{"not a deb", `pool/a_1_amd64.deb`, `pool/a_1_amd64.sh`, ErrUnsafePath},
		{"not json", `{"version"`, `["version"`, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(validLock(), tc.old, tc.new, 1)
			if _, err := ReadLock(strings.NewReader(text)); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	dup := strings.Replace(validLock(), `}]}`, `}, {"name": "b", "version": "1", "arch": "amd64", "filename": "other/a_1_amd64.deb", "size": 3, "sha256": "`+strings.Repeat("b", 64)+`"}]}`, 1)
	if _, err := ReadLock(strings.NewReader(dup)); err == nil || !strings.Contains(err.Error(), "also a's") {
		t.Errorf("two packages with one file name: got %v", err)
	}
}
