package main

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/squashfs"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeTarFile writes an archive holding the given files.
func writeTarFile(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(content))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tree.tar")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParamsFileAndCommonEtc(t *testing.T) {
	libc := writeTree(t, map[string]string{"lib/libc.so.6": "elf"})
	bash := writeTarFile(t, map[string]string{"bin/bash": "#!"})
	tmp := t.TempDir()
	var images [][]byte
	// The second run shows its progress on a terminal; the image stays
	// the same.
	var term bytes.Buffer
	for i, w := range []io.Writer{nil, &term} {
		out := filepath.Join(tmp, "image.sqfs")
		params := filepath.Join(tmp, "params")
		// Bazel's multiline format: one argument per line.
		lines := []string{
			"--output", out,
			"--compression", "gzip",
			"--common-etc=true",
			"--map", "libc/glibc2.36/x86_64/root=" + libc,
			"--tar", "shell/bash/x86_64/root=" + bash,
		}
		if err := os.WriteFile(params, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := run([]string{"@" + params}, w); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		img, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, img)
		os.Remove(out)
	}
	if !bytes.Equal(images[0], images[1]) {
		t.Errorf("two runs gave different images (%d and %d bytes)", len(images[0]), len(images[1]))
	}
	if got := term.String(); !strings.HasPrefix(got, "\rwriting runtime image image.sqfs: done in ") || !strings.HasSuffix(got, " B)\n") {
		t.Errorf("the terminal got %q, want the done line with the bytes of file data", got)
	}

	// Read the image back and check what an action inside the sandbox
	// relies on, not the builder's own constants.
	img, err := squashfs.NewReader(bytes.NewReader(images[0]))
	if err != nil {
		t.Fatalf("reading the image back: %v", err)
	}
	for name, want := range map[string]string{
		"libc/glibc2.36/x86_64/root/lib/libc.so.6": "elf",
		"shell/bash/x86_64/root/bin/bash":          "#!",
	} {
		if got, err := fs.ReadFile(img, name); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q from the mapped directory", name, got, err, want)
		}
	}
	etc := func(name string) string {
		t.Helper()
		p := "common/root/etc/" + name
		info, err := fs.Stat(img, p)
		if err != nil {
			t.Fatalf("the image lacks %s: %v", p, err)
		}
		// Actions run as nobody (or a mapped uid 0 that owns nothing).
		if !info.Mode().IsRegular() || info.Mode().Perm()&0o444 != 0o444 {
			t.Errorf("%s has mode %v, want a regular file readable by everyone", p, info.Mode())
		}
		b, err := fs.ReadFile(img, p)
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		return string(b)
	}
	// hasLine reports whether a line of etc/file, split by sep (nil for
	// blanks), satisfies match.
	hasLine := func(file string, sep func(string) []string, match func(fields []string) bool) bool {
		for _, line := range strings.Split(etc(file), "\n") {
			if match(sep(line)) {
				return true
			}
		}
		return false
	}
	colons := func(line string) []string { return strings.Split(line, ":") }
	for _, addr := range []string{"127.0.0.1", "::1"} {
		if !hasLine("hosts", strings.Fields, func(f []string) bool { return len(f) > 1 && f[0] == addr && slices.Contains(f[1:], "localhost") }) {
			t.Errorf("etc/hosts does not map localhost to %s", addr)
		}
	}
	for _, db := range []string{"passwd:", "group:", "hosts:"} {
		if !hasLine("nsswitch.conf", strings.Fields, func(f []string) bool { return len(f) == 2 && f[0] == db && f[1] == "files" }) {
			t.Errorf("etc/nsswitch.conf does not resolve %s from files only", db)
		}
	}
	// getpwuid and getgrgid must find the ids actions run as: 0 in
	// rootless mode, 65534 as root.
	for _, id := range []string{"0", "65534"} {
		if !hasLine("passwd", colons, func(f []string) bool { return len(f) == 7 && f[0] != "" && f[2] == id && f[3] == id }) {
			t.Errorf("etc/passwd has no user with uid and gid %s", id)
		}
		if !hasLine("group", colons, func(f []string) bool { return len(f) == 4 && f[0] != "" && f[2] == id }) {
			t.Errorf("etc/group has no group with gid %s", id)
		}
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	dir := writeTree(t, map[string]string{"etc/hosts": "x"})
	archive := writeTarFile(t, map[string]string{"etc/passwd": "x"})
	out := filepath.Join(t.TempDir(), "image.sqfs")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{"--map", "a=" + dir}, "--output is required"},
		{"bad compression", []string{"--output", out, "--compression", "xz"}, `unknown compression "xz"`},
		{"bad block size", []string{"--output", out, "--block-size", "1000"}, "block size 1000"},
		{"map without equals", []string{"--output", out, "--map", dir}, "want IMAGE_PATH=HOST_DIR"},
		{"tar without equals", []string{"--output", out, "--tar", archive}, "want IMAGE_PATH=FILE.tar"},
		{"missing tar", []string{"--output", out, "--tar", "a=" + archive + ".missing"}, "--tar a=" + archive + ".missing: open"},
		{"duplicate map and tar", []string{"--output", out, "--map", "a=" + dir, "--tar", "a=" + archive}, `--tar a=` + archive + `: duplicate path: "a"`},
		{"missing host dir", []string{"--output", out, "--map", "a=" + dir + "/nope"}, "no such file"},
		{"host file", []string{"--output", out, "--map", "a=" + dir + "/etc/hosts"}, "not a directory"},
		{"stray argument", []string{"--output", out, "extra"}, "unexpected arguments"},
		{"duplicate with common etc", []string{"--output", out, "--map", "common/root=" + dir}, `duplicate path: "common/root/etc/hosts"`},
		{"duplicate maps", []string{"--output", out, "--map", "a=" + dir, "--map", "a/etc=" + dir}, `duplicate path: "a/etc"`},
		{"runtime name clash", []string{"--output", out, "--map", "libc/gcc12/x86_64=" + dir, "--tar", "rootfs/gcc12/x86_64=" + archive}, `runtime name "gcc12" is used by both`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
			if _, statErr := os.Stat(out); statErr == nil {
				t.Errorf("a failed run left %s behind", out)
			}
		})
	}
}
