//go:build linux

package sandbox

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/sandbox/internal/initproc"
)

func TestInitConfigFor(t *testing.T) {
	valid := func() Spec {
		return Spec{
			Args:   []string{"/bin/tool", "arg"},
			Env:    []string{"PATH=/bin"},
			Stdout: "/out/stdout",
			Stderr: "/out/stderr",
			Mounts: []Mount{
				{Kind: Bind, Source: "/host/src", Target: "/src", ReadOnly: true},
				{Kind: Overlay, Lower: []string{"/l1", "/l2"}, Upper: "/u", Work: "/w", Target: "/execroot", LockInputs: true},
				{Kind: Overlay, Lower: []string{"/l1"}, Target: "/ro"},
				{Kind: Tmpfs, Target: "/scratch"},
			},
		}
	}
	// The same mounts as the init receives them.
	initMounts := []initproc.Mount{
		{Kind: initproc.Bind, Source: "/host/src", Target: "/src", ReadOnly: true},
		{Kind: initproc.Overlay, Lower: []string{"/l1", "/l2"}, Upper: "/u", Work: "/w", Target: "/execroot", LockInputs: true},
		{Kind: initproc.Overlay, Lower: []string{"/l1"}, Target: "/ro"},
		{Kind: initproc.Tmpfs, Target: "/scratch"},
	}
	t.Run("defaults", func(t *testing.T) {
		spec := valid()
		got, err := initConfigFor(spec, "/root-dir", true)
		if err != nil {
			t.Fatal(err)
		}
		want := initproc.Config{
			Root: "/root-dir", Args: spec.Args, Env: spec.Env, Dir: "/", Mounts: initMounts,
			Stdout: spec.Stdout, Stderr: spec.Stderr, UID: nobody, GID: nobody, Rootless: true,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("given ids and directory", func(t *testing.T) {
		spec := valid()
		spec.UID, spec.GID, spec.Dir = 1000, 1001, "/execroot"
		got, err := initConfigFor(spec, "/root-dir", false)
		if err != nil {
			t.Fatal(err)
		}
		if got.UID != 1000 || got.GID != 1001 || got.Dir != "/execroot" || got.Rootless {
			t.Errorf("got uid %d gid %d dir %q rootless %v, want 1000, 1001, /execroot, false", got.UID, got.GID, got.Dir, got.Rootless)
		}
	})
	for _, tc := range []struct {
		name    string
		mutate  func(*Spec)
		wantMsg string
	}{
		{"no args", func(s *Spec) { s.Args = nil }, "no command"},
		{"empty command", func(s *Spec) { s.Args = []string{""} }, "no command"},
		{"no stdout", func(s *Spec) { s.Stdout = "" }, "stdout and stderr"},
		{"no stderr", func(s *Spec) { s.Stderr = "" }, "stdout and stderr"},
		{"relative dir", func(s *Spec) { s.Dir = "work" }, "working directory"},
		{"unclean dir", func(s *Spec) { s.Dir = "/a/../b" }, "working directory"},
		{"relative target", func(s *Spec) { s.Mounts[0].Target = "src" }, "mount target"},
		{"mount on /", func(s *Spec) { s.Mounts[3].Target = "/" }, "mount target"},
		{"relative bind source", func(s *Spec) { s.Mounts[0].Source = "host/src" }, "bind source"},
		{"overlay without lower", func(s *Spec) { s.Mounts[1].Lower = nil }, "no lower"},
		{"overlay upper without work", func(s *Spec) { s.Mounts[1].Work = "" }, "both upper and work"},
		{"overlay relative lower", func(s *Spec) { s.Mounts[1].Lower[1] = "l2" }, "overlay directory"},
		{"overlay relative work", func(s *Spec) { s.Mounts[1].Work = "w" }, "overlay directory"},
		{"unknown kind", func(s *Spec) { s.Mounts[3].Kind = 7 }, "unknown kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := valid()
			tc.mutate(&spec)
			_, err := initConfigFor(spec, "/root-dir", false)
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("got %v, want an ErrInvalidSpec", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
		})
	}
}
