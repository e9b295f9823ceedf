package runtimes_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/actiond/actiond/go/runtimes"
)

func TestFileSHA256(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content string
		want    string
	}{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for i, tc := range tests {
		name := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(name, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := runtimes.FileSHA256(name)
		if err != nil || got != tc.want {
			t.Errorf("FileSHA256 of %q = %q, %v; want %q", tc.content, got, err, tc.want)
		}
	}
	if _, err := runtimes.FileSHA256(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("FileSHA256 of a missing file = %v, want an error wrapping fs.ErrNotExist", err)
	}
}
