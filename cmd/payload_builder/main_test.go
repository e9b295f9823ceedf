package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/payload"
)

// files writes name → content into a new directory and returns the paths.
func files(t *testing.T, contents map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{}
	for name, c := range contents {
		paths[name] = filepath.Join(dir, name)
		if err := os.WriteFile(paths[name], []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

func runBuilder(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

func TestBuild(t *testing.T) {
	// The test binary is a Go ELF executable to add payloads to.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src := files(t, map[string]string{
		"kernel":    strings.Repeat("kernel image ", 10000),
		"initramfs": "initramfs",
	})
	for _, format := range []string{"elf", "trailer"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			var outs [][]byte
			// The order of the --payload flags does not change the output.
			for i, order := range [][]string{{"kernel", "initramfs"}, {"initramfs", "kernel"}} {
				out := filepath.Join(dir, format+string(rune('a'+i)))
				args := []string{"--format=" + format, "--in", self, "--out", out}
				for _, name := range order {
					args = append(args, "--payload", name+"="+src[name])
				}
				if code, msg := runBuilder(t, args...); code != 0 {
					t.Fatalf("run: %d %s", code, msg)
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				outs = append(outs, b)
			}
			if !bytes.Equal(outs[0], outs[1]) {
				t.Errorf("outputs differ with the order of the flags")
			}
			out := filepath.Join(dir, format+"a")
			s, err := payload.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			wantFormat := map[string]payload.Format{"elf": payload.ELF, "trailer": payload.Trailer}[format]
			if s.Format() != wantFormat || len(s.Payloads()) != 2 {
				t.Fatalf("%s: %v with %d payloads, want %v with 2", out, s.Format(), len(s.Payloads()), wantFormat)
			}
			for name, path := range src {
				res, err := s.Lookup(name).Extract(context.Background(), t.TempDir(), nil)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := os.ReadFile(res.Path)
				want, _ := os.ReadFile(path)
				if !bytes.Equal(got, want) {
					t.Errorf("payload %s: extracted content differs", name)
				}
			}
			if fi, err := os.Stat(out); err != nil || fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("output mode: %v %v, want executable", fi.Mode(), err)
			}
			if runtime.GOOS == "linux" {
				b, err := exec.Command(out, "-test.run=^$").CombinedOutput()
				if err != nil || !strings.Contains(string(b), "PASS") {
					t.Errorf("the test binary with payloads: %v\n%s", err, b)
				}
			}
			if code, msg := runBuilder(t, "--format="+format, "--in", out, "--out", out+".again", "--payload", "kernel="+src["kernel"]); code != 1 || !strings.Contains(msg, "already carries payloads") {
				t.Errorf("adding payloads twice: %d %s", code, msg)
			}
		})
	}
}

func TestSectionContent(t *testing.T) {
	src := files(t, map[string]string{"kernel": strings.Repeat("kernel image ", 1000), "exe": "exe"})
	dir := t.TempDir()
	for _, c := range []string{"zstd", "none"} {
		content := filepath.Join(dir, "content-"+c)
		trailer := filepath.Join(dir, "trailer-"+c)
		if code, msg := runBuilder(t, "--format=section-content", "--compress="+c, "--out", content, "--payload", "kernel="+src["kernel"]); code != 0 {
			t.Fatalf("section-content: %d %s", code, msg)
		}
		if code, msg := runBuilder(t, "--format=trailer", "--compress="+c, "--in", src["exe"], "--out", trailer, "--payload", "kernel="+src["kernel"]); code != 0 {
			t.Fatalf("trailer: %d %s", code, msg)
		}
		// The section content is the blob a trailer holds.
		sc, _ := os.ReadFile(content)
		tr, _ := os.ReadFile(trailer)
		if !bytes.HasPrefix(sc, []byte("ACTDPAYL")) || !bytes.Equal(tr[len("exe"):len("exe")+len(sc)], sc) {
			t.Errorf("--compress=%s: the section content (%d bytes) is not the trailer's blob", c, len(sc))
		}
	}
}

func TestErrors(t *testing.T) {
	src := files(t, map[string]string{"kernel": "k", "script": "#!/bin/sh\n"})
	out := filepath.Join(t.TempDir(), "out")
	k := "kernel=" + src["kernel"]
	params := filepath.Join(t.TempDir(), "params")
	if err := os.WriteFile(params, []byte("--format=elf\n--in\n"+src["script"]+"\n--out\n"+out+"\n--payload\n"+k+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no format", []string{"--out", out, "--payload", k}, 2, "--format is required"},
		{"unknown format", []string{"--format=pe", "--in", src["script"], "--out", out, "--payload", k}, 2, `unknown --format "pe"`},
		{"no out", []string{"--format=elf", "--in", src["script"], "--payload", k}, 2, "--out is required"},
		{"no in", []string{"--format=trailer", "--out", out, "--payload", k}, 2, "--format=trailer needs --in"},
		{"no payload", []string{"--format=elf", "--in", src["script"], "--out", out}, 2, "at least one --payload"},
		{"payload without file", []string{"--format=elf", "--in", src["script"], "--out", out, "--payload", "kernel"}, 2, "is not name=FILE"},
		{"bad payload name", []string{"--format=elf", "--in", src["script"], "--out", out, "--payload", "Kernel=" + src["kernel"]}, 2, "only a-z"},
		{"duplicate payload", []string{"--format=trailer", "--in", src["script"], "--out", out, "--payload", k, "--payload", k}, 1, "given twice"},
		{"bad compression", []string{"--format=elf", "--in", src["script"], "--out", out, "--payload", k, "--compress=xz"}, 2, `unknown compression "xz"`},
		{"section content with in", []string{"--format=section-content", "--in", src["script"], "--out", out, "--payload", k}, 2, "takes no --in"},
		{"section content with two", []string{"--format=section-content", "--out", out, "--payload", k, "--payload", "initramfs=" + src["kernel"]}, 2, "takes one --payload"},
		{"extra arguments", []string{"--format=elf", "--in", src["script"], "--out", out, "--payload", k, "extra"}, 2, "unexpected arguments"},
		{"unknown flag", []string{"--sign"}, 2, "flag provided but not defined"},
		{"missing input", []string{"--format=elf", "--in", "/nonexistent", "--out", out, "--payload", k}, 1, "no such file"},
		{"missing payload file", []string{"--format=trailer", "--in", src["script"], "--out", out, "--payload", "kernel=/nonexistent"}, 1, "no such file"},
		{"not ELF", []string{"--format=elf", "--in", src["script"], "--out", out, "--payload", k}, 1, "not an ELF file"},
		{"params file", []string{"@" + params}, 1, "not an ELF file"},
		{"missing params file", []string{"@/nonexistent"}, 1, "reading params file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := runBuilder(t, tt.args...)
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Fatalf("run: %d %q, want %d and a message containing %q", code, msg, tt.code, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed run wrote %s", out)
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
				t.Errorf("a failed run left %v", entries)
			}
		})
	}
}
