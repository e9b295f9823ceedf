package rmtree_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/actiond/actiond/go/internal/rmtree"
)

func TestRemove(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, p string)
	}{
		{"absent", func(t *testing.T, p string) {}},
		{"file", func(t *testing.T, p string) { write(t, p) }},
		{"writable tree", func(t *testing.T, p string) { write(t, filepath.Join(p, "a/b/f")) }},
		{"read-only directories", func(t *testing.T, p string) {
			write(t, filepath.Join(p, "a/b/f"))
			for _, d := range []string{"a/b", "a", ""} {
				if err := os.Chmod(filepath.Join(p, d), 0o555); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tree")
			tc.make(t, p)
			if err := rmtree.Remove(p); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after Remove, Lstat = %v, want not exist", err)
			}
		})
	}
}

// TestRemoveUnprivileged runs TestRemove as user 65534 when the tests run
// as root, for whom os.RemoveAll alone empties read-only directories.
func TestRemoveUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: TestRemove already runs unprivileged")
	}
	// A copy of the test binary in a directory the user can reach, and a
	// TMPDIR the user owns.
	dir, err := os.MkdirTemp("", "rmtree-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	tmp := filepath.Join(dir, "tmp")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "rmtree.test")
	copyExecutable(t, exe)
	cmd := exec.Command(exe, "-test.run=^TestRemove$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("TestRemove as user 65534: %v\n%s", err, out)
	}
}

func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	src, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o444); err != nil {
		t.Fatal(err)
	}
}
