package testbin_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/internal/testbin"
)

// The helper testdata/hello, from the go_binary under Bazel and built
// under go test.
func TestPathGivesARunnableHelper(t *testing.T) {
	bin, err := testbin.Path("HELLO_BIN", "./testdata/hello", t.TempDir())
	if errors.Is(err, testbin.ErrNoGoTool) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin).Output()
	if err != nil || string(out) != "hello\n" {
		t.Errorf("%s printed %q (%v), want \"hello\\n\"", bin, out, err)
	}
}

func TestPathFromRunfiles(t *testing.T) {
	runfiles := t.TempDir()
	target := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(target, []byte("#!"), 0o755); err != nil {
		t.Fatal(err)
	}
	resolved, err := filepath.EvalSymlinks(target)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(runfiles, "_main", "go", "x", "probe_", "probe")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, runfilesDir, testSrcdir, rel string
		want                               string
		wantErr                            string
	}{
		{name: "RUNFILES_DIR", runfilesDir: runfiles, rel: "_main/go/x/probe_/probe", want: resolved},
		{name: "TEST_SRCDIR", testSrcdir: runfiles, rel: "_main/go/x/probe_/probe", want: resolved},
		{name: "missing", runfilesDir: runfiles, rel: "_main/go/x/probe_/nope", wantErr: "PROBE_BIN=_main/go/x/probe_/nope"},
		{name: "no runfiles", rel: "_main/go/x/probe_/probe", wantErr: "neither RUNFILES_DIR nor TEST_SRCDIR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RUNFILES_DIR", tc.runfilesDir)
			t.Setenv("TEST_SRCDIR", tc.testSrcdir)
			t.Setenv("PROBE_BIN", tc.rel)
			// A directory the build would write to; it must stay empty.
			dir := t.TempDir()
			got, err := testbin.Path("PROBE_BIN", "./testdata/hello", dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Path: got %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
			} else if err != nil || got != tc.want {
				t.Errorf("Path: got %q, %v; want %q", got, err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("Path built into %s although PROBE_BIN was set", dir)
			}
		})
	}
}
