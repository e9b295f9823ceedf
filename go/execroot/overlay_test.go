//go:build linux

package execroot_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
	"github.com/actiond/actiond/go/sandbox"
)

// mountAll makes r's mounts in the host mount namespace under dir, as the
// sandbox would in its own, and unmounts them at cleanup.
func mountAll(t *testing.T, ms []sandbox.Mount) {
	t.Helper()
	for _, m := range ms {
		var err error
		switch m.Kind {
		case sandbox.Overlay:
			err = unix.Mount("overlay", m.Target, "overlay", 0, "lowerdir="+strings.Join(m.Lower, ":")+",upperdir="+m.Upper+",workdir="+m.Work)
		case sandbox.Bind:
			err = unix.Mount(m.Source, m.Target, "", unix.MS_BIND|unix.MS_REC, "")
			if err == nil && m.ReadOnly {
				err = unix.Mount("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
			}
		}
		if err != nil {
			t.Fatalf("mount %+v: %v", m, err)
		}
		target := m.Target
		t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	}
}

// TestOverlayAction mounts a prepared root for real, lets an unprivileged
// "action" write outputs and try to change inputs, and collects the outputs
// from the upper layer once unmounted.
func TestOverlayAction(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount overlayfs and to run the action as uid 65534")
	}
	s := newStore(t)
	ents := append(bigTree("tool/lib", 40), []ent{
		{path: "a.txt", content: "input a\n"},
		{path: "small/f", content: "small f"},
		{path: "small/g", content: "small g"},
	}...)
	root := putTree(t, s, ents)
	b := newBuilder(t, s, nil)
	cmd := &repb.Command{OutputFiles: []string{"a.txt", "out/f.txt"}, OutputDirectories: []string{"out/d", "small"}}
	r, err := b.Prepare(context.Background(), root, cmd, execroot.PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	base := t.TempDir()
	for _, p := range []string{base, filepath.Dir(base)} { // let uid 65534 reach the mount
		os.Chmod(p, 0o755)
	}
	mnt := filepath.Join(base, "execroot")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	ms := r.Mounts(mnt)
	if len(ms) != 2 {
		t.Fatalf("mounts: got %+v; want the overlay and the tool bind", ms)
	}
	mountAll(t, ms)

	asNobody := func(script string) (string, error) {
		c := exec.Command("/bin/sh", "-c", script)
		c.Dir = mnt
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := c.CombinedOutput()
		return string(out), err
	}
	for _, tc := range []struct {
		script string
		ok     bool
	}{
		{"echo hi > out/f.txt", true},
		{"mkdir out/d && echo x > out/d/x && ln -s x out/d/l", true},
		{"rm small/f", true},
		{"echo more >> a.txt", false},         // inputs are 0444 and root's
		{"touch tool/lib/new", false},         // the bind is read-only
		{"echo more >> tool/lib/f001", false}, // likewise
		{"cat tool/lib/f001 small/g a.txt", true},
	} {
		out, err := asNobody(tc.script)
		if (err == nil) != tc.ok {
			t.Errorf("action %q: got %v (%s); want success=%v", tc.script, err, out, tc.ok)
		}
	}
	// Even root writing an input through the overlay copies it up: the CAS
	// file behind the hard link stays intact.
	f, err := os.OpenFile(filepath.Join(mnt, "a.txt"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("changed\n")
	f.Close()
	if got, _ := os.ReadFile(s.Path(digest.OfBytes([]byte("input a\n")))); string(got) != "input a\n" {
		t.Errorf("CAS blob of a.txt after a write through the overlay: %q; want it unchanged", got)
	}
	for _, m := range []string{ms[1].Target, ms[0].Target} {
		if err := unix.Unmount(m, 0); err != nil {
			t.Fatalf("unmount %s: %v", m, err)
		}
	}

	res := &repb.ActionResult{}
	if err := r.CollectOutputs(context.Background(), cmd, res); err != nil {
		t.Fatalf("CollectOutputs: %v", err)
	}
	got := map[string]string{}
	for _, f := range res.OutputFiles {
		got[f.Path] = f.Digest.Hash
	}
	if want := digest.OfBytes([]byte("hi\n")).Hash; got["out/f.txt"] != want {
		t.Errorf("out/f.txt: got %s, want digest of \"hi\\n\"", got["out/f.txt"])
	}
	if want := digest.OfBytes([]byte("input a\nchanged\n")).Hash; got["a.txt"] != want {
		t.Errorf("a.txt: got %s, want digest of the changed file", got["a.txt"])
	}
	dirs := map[string]*repb.OutputDirectory{}
	for _, d := range res.OutputDirectories {
		dirs[d.Path] = d
	}
	if d := dirs["small"]; d == nil {
		t.Errorf("output directory small missing")
	} else if root, _ := readTree(t, s, d.TreeDigest); !equal(names(root.Files), []string{"g"}) {
		t.Errorf("small: got files %v; want [g] (f was deleted by the action)", names(root.Files))
	}
	if d := dirs["out/d"]; d == nil {
		t.Errorf("output directory out/d missing")
	} else if root, _ := readTree(t, s, d.TreeDigest); !equal(names(root.Files), []string{"x"}) || len(root.Symlinks) != 1 {
		t.Errorf("out/d: got %v; want file x and symlink l", root)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestOverlayLockedInputs mounts prepared roots for real and checks, as the
// action's user, which changes to inputs the ownership of the lower tree
// allows: none by default, all with MutableInputs, and those in an input
// directory that is an output. New files and directories are always fine.
func TestOverlayLockedInputs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount overlayfs and to run the action as uid 65534")
	}
	s := newStore(t)
	root := putTree(t, s, []ent{
		{path: "top", content: "top"},
		{path: "in/rm", content: "1"},
		{path: "in/mv", content: "2"},
		{path: "in/chmod", content: "3"},
		{path: "in/truncate", content: "4"},
		{path: "in/sub1/g", content: "g"},
		{path: "in/sub2/g", content: "g"},
		{path: "outdir/old", content: "stale"},
	})
	// Each changes a different input, so that they do not depend on each
	// other's outcome.
	changes := []string{"rm top", "rm in/rm", "mv in/mv in/mv2", "chmod 666 in/chmod", "rm -r in/sub1", "mv in/sub2 in/sub3", "chmod u+w in/truncate && : > in/truncate"}
	for _, tc := range []struct {
		name    string
		opts    execroot.PrepareOptions
		changes bool // whether the changes to inputs succeed
	}{
		{"locked", execroot.PrepareOptions{}, false},
		{"mutable", execroot.PrepareOptions{MutableInputs: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t, s, nil)
			cmd := &repb.Command{OutputDirectories: []string{"outdir"}, OutputFiles: []string{"in/new-out"}}
			r, err := b.Prepare(context.Background(), root, cmd, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			base := t.TempDir()
			for _, p := range []string{base, filepath.Dir(base)} {
				os.Chmod(p, 0o755)
			}
			mnt := filepath.Join(base, "execroot")
			if err := os.Mkdir(mnt, 0o755); err != nil {
				t.Fatal(err)
			}
			mountAll(t, r.Mounts(mnt))
			run := func(script string) error {
				c := exec.Command("/bin/sh", "-c", script)
				c.Dir = mnt
				c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
				return c.Run()
			}
			for _, script := range changes {
				want := tc.changes
				if err := run(script); (err == nil) != want {
					t.Errorf("%q: got error %v; want success=%v", script, err, want)
				}
			}
			for _, script := range []string{"echo x > in/new-out", "mkdir in/newdir && echo y > in/newdir/z", "echo z > new-top", "rm outdir/old && echo fresh > outdir/new"} {
				if err := run(script); err != nil {
					t.Errorf("%q: %v; want success", script, err)
				}
			}
		})
	}
}
