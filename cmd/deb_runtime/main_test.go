package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunValidatesFlags(t *testing.T) {
	deb := filepath.Join(t.TempDir(), "x.deb")
	if err := os.WriteFile(deb, []byte("!<arch>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	tarOut := filepath.Join(t.TempDir(), "out.tar")
	for _, tc := range []struct {
		name     string
		args     []string
		wantText string
	}{
		{"no name", []string{"--kind", "libc", "--arch", "x86_64", "--out", out, deb}, "--name is required"},
		{"bad kind", []string{"--name", "g", "--kind", "musl", "--arch", "x86_64", "--out", out, deb}, `--kind="musl"`},
		{"bad arch", []string{"--name", "g", "--kind", "libc", "--arch", "amd64", "--out", out, deb}, `--arch="amd64"`},
		{"no out", []string{"--name", "g", "--kind", "libc", "--arch", "x86_64", deb}, "give exactly one of --tar and --out"},
		{"tar and out", []string{"--name", "g", "--kind", "libc", "--arch", "x86_64", "--out", out, "--tar", tarOut, deb}, "give exactly one of --tar and --out"},
		{"no debs", []string{"--name", "g", "--kind", "libc", "--arch", "x86_64", "--out", out}, "no .deb files"},
		{"missing deb", []string{"--name", "g", "--kind", "libc", "--arch", "x86_64", "--out", out, deb + ".missing"}, "no such file"},
		{"unknown flag", []string{"--nmae", "g"}, "flag provided but not defined"},
		{"not a deb", []string{"--name", "g", "--kind", "libc", "--arch", "x86_64", "--out", out, deb}, "ar archive has no members"},
		{"rootfs kind is accepted", []string{"--name", "g", "--kind", "rootfs", "--arch", "x86_64", "--tar", tarOut, deb}, "ar archive has no members"},
		{"not a deb to tar", []string{"--name", "g", "--kind", "libc", "--arch", "x86_64", "--tar", tarOut, deb}, "ar archive has no members"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("run(%q): got error %v, want one containing %q", tc.args, err, tc.wantText)
			}
			if _, err := os.Stat(tarOut); err == nil {
				t.Errorf("a failed run left %s behind", tarOut)
			}
		})
	}
}
