package privdir_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/actiond/actiond/go/internal/privdir"
)

func TestEnsure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T, dir string)
		wantMode  os.FileMode
		wantFixed bool
		wantErr   error // nil for none
	}{
		{name: "created", setup: func(*testing.T, string) {}, wantMode: 0o700},
		{name: "private already", setup: mkdir(0o750), wantMode: 0o750},
		{name: "world-writable", setup: mkdir(0o777), wantMode: 0o755, wantFixed: true},
		{name: "group-writable", setup: mkdir(0o770), wantMode: 0o750, wantFixed: true},
		{name: "owned by another user", setup: func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to chown a directory to another user")
			}
			mkdir(0o755)(t, dir)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, wantErr: privdir.ErrNotPrivate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			tc.setup(t, dir)
			fixed, err := privdir.Ensure(dir)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Ensure = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			if fixed != tc.wantFixed {
				t.Errorf("fixed = %v, want %v", fixed, tc.wantFixed)
			}
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tc.wantMode {
				t.Errorf("mode %#o, want %#o", got, tc.wantMode)
			}
		})
	}
}

func mkdir(mode os.FileMode) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		if err := os.Mkdir(dir, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
}
