//go:build linux

package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/sandbox"
)

func mkdir(t *testing.T, mode os.FileMode, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// t.TempDir is 0700; the action user must get in.
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkMounts runs every mount kind and checks from inside and outside what
// each allows.
func checkMounts(t *testing.T, r *sandbox.Runner) {
	t.Helper()
	ro := mkdir(t, 0o755, map[string]string{"f": "ro"})
	rw := mkdir(t, 0o777, nil)
	lower1 := mkdir(t, 0o755, map[string]string{"a": "from lower1"})
	lower2 := mkdir(t, 0o755, map[string]string{"a": "hidden", "b": "from lower2"})
	upper := mkdir(t, 0o777, nil)
	work := mkdir(t, 0o755, nil)
	etc := mkdir(t, 0o755, map[string]string{"passwd": "custom\n"})
	spec := probeSpec(t, "ops",
		"write:/in/ro/new", "read:/in/ro/f", "write:/in/rw/new", "write:/in/file", "read:/in/file",
		"write:/scratch/x", "write:/tmp/x", "write:/dev/null", "read:/dev/zero-does-not-exist",
		"read:/ovl/a", "read:/ovl/b", "write:/ovl/new", "write:/ovl-ro/new", "read:/ovl-ro/b",
		"read:/ovl-one/a", "write:/ovl-one/new", "read:/etc/passwd")
	spec.Mounts = append(spec.Mounts,
		sandbox.Mount{Kind: sandbox.Bind, Source: ro, Target: "/in/ro", ReadOnly: true},
		sandbox.Mount{Kind: sandbox.Bind, Source: rw, Target: "/in/rw"},
		sandbox.Mount{Kind: sandbox.Bind, Source: filepath.Join(ro, "f"), Target: "/in/file", ReadOnly: true},
		sandbox.Mount{Kind: sandbox.Tmpfs, Target: "/scratch"},
		sandbox.Mount{Kind: sandbox.Overlay, Lower: []string{lower1, lower2}, Upper: upper, Work: work, Target: "/ovl"},
		sandbox.Mount{Kind: sandbox.Overlay, Lower: []string{lower1, lower2}, Target: "/ovl-ro"},
		sandbox.Mount{Kind: sandbox.Overlay, Lower: []string{lower1}, Target: "/ovl-one"},
		sandbox.Mount{Kind: sandbox.Bind, Source: etc, Target: "/etc", ReadOnly: true},
	)
	o := mustRun(t, r, spec)
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(o.stdout), "\n") {
		op, result, _ := strings.Cut(line, " ")
		got[op] = result
	}
	for op, want := range map[string]string{
		"write:/in/ro/new":              "EROFS",
		"read:/in/ro/f":                 `"ro"`,
		"write:/in/rw/new":              "ok",
		"write:/in/file":                "EROFS",
		"read:/in/file":                 `"ro"`,
		"write:/scratch/x":              "ok",
		"write:/tmp/x":                  "ok",
		"write:/dev/null":               "ok",
		"read:/dev/zero-does-not-exist": "ENOENT",
		"read:/ovl/a":                   `"from lower1"`,
		"read:/ovl/b":                   `"from lower2"`,
		"write:/ovl/new":                "ok",
		"write:/ovl-ro/new":             "EROFS",
		"read:/ovl-ro/b":                `"from lower2"`,
		"read:/etc/passwd":              `"custom\n"`,
	} {
		if got[op] != want {
			t.Errorf("%s: got %q, want %q", op, got[op], want)
		}
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(rw, "new"), "x"},
		{filepath.Join(upper, "new"), "x"},
	} {
		if b, err := os.ReadFile(c.path); err != nil || string(b) != c.want {
			t.Errorf("host file %s: got %q, %v; want %q", c.path, b, err, c.want)
		}
	}
	for _, p := range []string{filepath.Join(ro, "new"), filepath.Join(lower1, "new"), filepath.Join(lower2, "new")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("host file %s exists; the mount should have kept it from being created", p)
		}
	}
}

func TestMounts(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	checkMounts(t, newRunner(t, sandbox.Options{}))
}

// TestMinimalEtc checks the /etc the sandbox provides when the caller
// mounts none.
func TestMinimalEtc(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	o := mustRun(t, newRunner(t, sandbox.Options{}), probeSpec(t, "cat", "/etc/passwd"))
	if !strings.Contains(o.stdout, "nobody:x:65534:65534:") {
		t.Errorf("/etc/passwd: got %q, want a nobody entry", o.stdout)
	}
}

// TestReadOnlyBindIsRecursive mounts a tmpfs below a directory on the host
// and checks that a read-only bind of the directory makes the submount
// read-only too.
func TestReadOnlyBindIsRecursive(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	dir := mkdir(t, 0o755, nil)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "mode=1777"); err != nil {
		t.Skipf("cannot mount a tmpfs on the host: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(sub, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", sub, err)
		}
	})
	spec := probeSpec(t, "ops", "write:/in/sub/x")
	spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Bind, Source: dir, Target: "/in", ReadOnly: true})
	o := mustRun(t, newRunner(t, sandbox.Options{}), spec)
	if got, want := strings.TrimSpace(o.stdout), "write:/in/sub/x EROFS"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestHostMountAfterStart mounts on the host after the Runner pre-started
// its inits: a pre-started init does not see the new mount, and after
// Refresh every action must see it.
func TestHostMountAfterStart(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	r := newRunner(t, sandbox.Options{Prestart: 2})
	waitForPrestartedInits(t, r, 2)
	dir := mkdir(t, 0o755, nil)
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs on the host: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "new"), []byte("fresh"), 0o644); err != nil {
		t.Fatal(err)
	}
	catNew := func() sandbox.Spec {
		spec := probeSpec(t, "cat", "/in/new")
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Bind, Source: dir, Target: "/in", ReadOnly: true})
		return spec
	}
	// Without Refresh, the pre-started init still has the mount namespace
	// of before the mount, where dir is an empty directory.
	if o := run(context.Background(), t, r, catNew()); !o.res.Timings.Prestarted || o.stdout == "fresh" {
		t.Errorf("before Refresh: got %+v, stdout %q; want a pre-started init that does not see the new mount", o.res, o.stdout)
	}
	r.Refresh()
	for i := 0; i < 3; i++ { // more runs than pre-started inits
		if o := mustRun(t, r, catNew()); o.stdout != "fresh" {
			t.Errorf("run %d: got %q, want the file from the new host mount", i, o.stdout)
		}
	}
}
