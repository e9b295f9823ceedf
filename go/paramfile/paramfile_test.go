package paramfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/actiond/actiond/go/paramfile"
)

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return "@" + p
	}
	unix := file("unix", "--scan\nin dir\n\n--out-file=o\n")
	crlf := file("crlf", "-a\r\n\r\nb c\r\n")
	nested := file("nested", "@"+filepath.Join(dir, "unix")+"\n")
	empty := file("empty", "")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no arguments", nil, nil},
		{"no params file", []string{"--x", "y"}, []string{"--x", "y"}},
		{"lines in place, empty ones dropped", []string{"--first", unix, "--last"}, []string{"--first", "--scan", "in dir", "--out-file=o", "--last"}},
		{"CRLF line ends", []string{crlf}, []string{"-a", "b c"}},
		{"lone @", []string{"@"}, []string{"@"}},
		{"not expanded twice", []string{nested}, []string{unix}},
		{"empty file", []string{"a", empty}, []string{"a"}},
		{"two files", []string{unix, crlf}, []string{"--scan", "in dir", "--out-file=o", "-a", "b c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := paramfile.Expand(tc.args)
			if err != nil {
				t.Fatalf("Expand(%q): %v", tc.args, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Expand(%q) = %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}

func TestExpandMissingFile(t *testing.T) {
	_, err := paramfile.Expand([]string{"@" + filepath.Join(t.TempDir(), "absent")})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Expand of a missing params file = %v, want an error wrapping fs.ErrNotExist", err)
	}
}
