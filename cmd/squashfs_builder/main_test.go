package main

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	unsquashfs, err := exec.LookPath("unsquashfs")
	if err != nil {
		t.Skip("unsquashfs not installed (apt-get install -y squashfs-tools); CI has it")
	}
	libc := writeTree(t, map[string]string{"lib/libc.so.6": "elf"})
	bash := writeTarFile(t, map[string]string{"bin/bash": "#!"})
	tmp := t.TempDir()
	var images [][]byte
	for i := range 2 {
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
		if err := run([]string{"@" + params}); err != nil {
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
	img := filepath.Join(tmp, "check.sqfs")
	if err := os.WriteFile(img, images[0], 0o644); err != nil {
		t.Fatal(err)
	}
	ls, err := exec.Command(unsquashfs, "-lls", img).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lls: %v\n%s", err, ls)
	}
	for _, want := range []string{
		"squashfs-root/common/root/etc/hosts",
		"squashfs-root/common/root/etc/nsswitch.conf",
		"squashfs-root/common/root/etc/passwd",
		"squashfs-root/common/root/etc/group",
		"squashfs-root/libc/glibc2.36/x86_64/root/lib/libc.so.6",
		"squashfs-root/shell/bash/x86_64/root/bin/bash",
	} {
		if !bytes.Contains(ls, []byte(want)) {
			t.Errorf("image lacks %s:\n%s", want, ls)
		}
	}
	for name, want := range map[string]string{"hosts": etcHosts, "passwd": etcPasswd, "group": etcGroup} {
		got, err := exec.Command(unsquashfs, "-cat", img, "common/root/etc/"+name).Output()
		if err != nil || string(got) != want {
			t.Errorf("common/root/etc/%s = %q (%v), want %q", name, got, err, want)
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
			if _, statErr := os.Stat(out); statErr == nil {
				t.Errorf("a failed run left %s behind", out)
			}
		})
	}
}
