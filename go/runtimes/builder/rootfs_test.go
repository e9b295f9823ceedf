package builder_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/actiond/actiond/go/deb"
	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/runtimes/builder"
)

func TestBuildRootfs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		debs       map[string]map[string]string // package -> files
		wantMounts []runtimes.ManifestMount
		wantLinks  map[string]string // root-relative link -> target
		wantAbsent []string
	}{
		{
			name: "bookworm layout",
			debs: map[string]map[string]string{
				"bash": {"bin/bash": "#!bash\n", "etc/bash.bashrc": "rc", "usr/share/doc/bash/copyright": "c"},
				"gcc": {
					"usr/bin/gcc": "#!gcc\n", "usr/bin/c89-gcc": "#!c89\n",
					// The same file from a second package is accepted.
					"usr/lib/x86_64-linux-gnu/libgcc_s.so.1": "lib",
				},
				"g++":    {"usr/bin/g++": "#!g++\n", "usr/lib/x86_64-linux-gnu/libgcc_s.so.1": "lib"},
				"libc6":  {"lib/x86_64-linux-gnu/libc.so.6": "libc", "lib64/ld-linux-x86-64.so.2": "ld"},
				"oddity": {"tmp/x": "x", "proc/y": "y", "dev/z": "z", "srv/data/w": "w"},
			},
			wantMounts: []runtimes.ManifestMount{
				{ImagePath: "root/bin", SandboxPath: "/bin"},
				{ImagePath: "root/lib", SandboxPath: "/lib"},
				{ImagePath: "root/lib64", SandboxPath: "/lib64"},
				{ImagePath: "root/srv", SandboxPath: "/srv"},
				{ImagePath: "root/usr", SandboxPath: "/usr"},
			},
			wantLinks:  map[string]string{"usr/bin/cc": "gcc", "usr/bin/c++": "g++", "usr/bin/c89": "c89-gcc", "bin/sh": "bash"},
			wantAbsent: []string{"usr/bin/c99", "etc", "usr/share/doc"},
		},
		{
			name: "merged usr",
			debs: map[string]map[string]string{
				"bash": {"usr/bin/bash": "#!bash\n"},
				"dash": {"usr/bin/dash": "#!dash\n"},
				"gcc":  {"usr/bin/gcc": "#!gcc\n"},
				"libc": {"usr/lib/x86_64-linux-gnu/libc.so.6": "libc", "usr/lib64/ld-linux-x86-64.so.2": "ld"},
			},
			wantMounts: []runtimes.ManifestMount{
				{ImagePath: "root/usr/bin", SandboxPath: "/bin"},
				{ImagePath: "root/usr/lib", SandboxPath: "/lib"},
				{ImagePath: "root/usr/lib64", SandboxPath: "/lib64"},
				{ImagePath: "root/usr", SandboxPath: "/usr"},
			},
			wantLinks:  map[string]string{"usr/bin/cc": "gcc", "usr/bin/sh": "dash", "bin": "usr/bin"},
			wantAbsent: []string{"usr/bin/c++"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var debs []string
			for _, pkg := range []string{"bash", "dash", "gcc", "g++", "libc", "libc6", "oddity"} {
				if files, ok := tc.debs[pkg]; ok {
					debs = append(debs, makeDeb(t, pkg, "amd64", files))
				}
			}
			out := filepath.Join(t.TempDir(), "gcc12")
			m, err := builder.Build(context.Background(), builder.Options{
				Name: "gcc12", Kind: runtimes.KindRootfs, Arch: "x86_64", Debs: debs, Out: out,
			})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !reflect.DeepEqual(m.Mounts, tc.wantMounts) {
				t.Errorf("mounts = %+v, want %+v", m.Mounts, tc.wantMounts)
			}
			if m.Kind != runtimes.KindRootfs || len(m.Debs) != len(debs) {
				t.Errorf("manifest kind %q with %d debs, want rootfs with %d", m.Kind, len(m.Debs), len(debs))
			}
			for link, want := range tc.wantLinks {
				if got, err := os.Readlink(filepath.Join(out, "root", link)); err != nil || got != want {
					t.Errorf("%s -> %q (%v), want -> %q", link, got, err, want)
				}
			}
			for _, p := range tc.wantAbsent {
				if _, err := os.Lstat(filepath.Join(out, "root", p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: got %v, want it absent", p, err)
				}
			}
		})
	}
}

func TestBuildRootfsConflict(t *testing.T) {
	a := makeDeb(t, "gcc", "amd64", map[string]string{"usr/bin/cpp": "one"})
	b := makeDeb(t, "cpp", "amd64", map[string]string{"usr/bin/cpp": "two"})
	_, err := builder.Build(context.Background(), builder.Options{
		Name: "gcc12", Kind: runtimes.KindRootfs, Arch: "x86_64", Debs: []string{a, b}, Out: filepath.Join(t.TempDir(), "out"),
	})
	if !errors.Is(err, deb.ErrDuplicatePath) {
		t.Fatalf("Build of two packages with different usr/bin/cpp: got %v, want %v", err, deb.ErrDuplicatePath)
	}
}
