package runtimes_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/runtimes"
)

// fakeRuntime is one runtime directory of a fake image.
type fakeRuntime struct {
	kind, name, arch string
	dirs             []string // created under root/
	mounts           []runtimes.ManifestMount
}

var (
	libcMounts = []runtimes.ManifestMount{
		{ImagePath: "root/lib", SandboxPath: "/lib"},
		{ImagePath: "root/lib64", SandboxPath: "/lib64"},
		{ImagePath: "root/usr/lib", SandboxPath: "/usr/lib"},
	}
	mergedUsrMounts = []runtimes.ManifestMount{
		{ImagePath: "root/usr/lib", SandboxPath: "/lib"},
		{ImagePath: "root/usr/lib64", SandboxPath: "/lib64"},
		{ImagePath: "root/usr/lib", SandboxPath: "/usr/lib"},
	}
	bashMounts = []runtimes.ManifestMount{
		{ImagePath: "root/bin", SandboxPath: "/bin"},
		{ImagePath: "root/usr/bin", SandboxPath: "/usr/bin"},
	}
)

// writeFakeImage lays out an unpacked runtime image in a new directory.
func writeFakeImage(t *testing.T, fakes ...fakeRuntime) string {
	t.Helper()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "common/root/etc/hosts"), "127.0.0.1 localhost\n")
	for _, r := range fakes {
		rdir := filepath.Join(dir, r.kind, r.name, r.arch)
		if r.kind == runtimes.KindShell {
			rdir = filepath.Join(dir, "shell", "bash", r.arch)
		}
		for _, d := range r.dirs {
			if err := os.MkdirAll(filepath.Join(rdir, "root", d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		m := &runtimes.Manifest{
			Version: runtimes.ManifestVersion, Name: r.name, Kind: r.kind, Arch: r.arch,
			Debs: []runtimes.Deb{}, Mounts: r.mounts, Interpreters: []string{},
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(rdir, runtimes.ManifestFileName), string(b))
	}
	return dir
}

func mustWrite(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func standardImage(t *testing.T) string {
	return writeFakeImage(t,
		fakeRuntime{"libc", "glibc2.36", "x86_64", []string{"lib", "lib64", "usr/lib"}, libcMounts},
		fakeRuntime{"libc", "glibc2.36", "aarch64", []string{"lib", "lib64", "usr/lib"}, libcMounts},
		fakeRuntime{"libc", "glibc2.41", "x86_64", []string{"usr/lib", "usr/lib64"}, mergedUsrMounts},
		fakeRuntime{"libc", "glibc2.31", "aarch64", []string{"lib", "lib64", "usr/lib"}, libcMounts},
		fakeRuntime{"shell", "bash", "x86_64", []string{"bin", "usr/bin"}, bashMounts},
	)
}

func TestCatalogMounts(t *testing.T) {
	dir := standardImage(t)
	catalog, err := runtimes.OpenArch(context.Background(), dir, "x86_64")
	if err != nil {
		t.Fatalf("OpenArch: %v", err)
	}
	if got, want := catalog.Names(), []string{"glibc2.36", "glibc2.41"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	etc := runtimes.Mount{Source: filepath.Join(dir, "common/root/etc"), Target: "/etc"}
	libc236 := filepath.Join(dir, "libc/glibc2.36/x86_64/root")
	libc241 := filepath.Join(dir, "libc/glibc2.41/x86_64/root")
	bash := filepath.Join(dir, "shell/bash/x86_64/root")
	for _, tc := range []struct {
		libc         string
		requiresBash bool
		want         []runtimes.Mount
	}{
		{"", false, []runtimes.Mount{etc}},
		{"none", false, []runtimes.Mount{etc}},
		{"glibc2.36", false, []runtimes.Mount{etc,
			{libc236 + "/lib", "/lib"}, {libc236 + "/lib64", "/lib64"}, {libc236 + "/usr/lib", "/usr/lib"}}},
		{"glibc2.41", true, []runtimes.Mount{etc,
			{libc241 + "/usr/lib", "/lib"}, {libc241 + "/usr/lib64", "/lib64"}, {libc241 + "/usr/lib", "/usr/lib"},
			{bash + "/bin", "/bin"}, {bash + "/usr/bin", "/usr/bin"}}},
		{"none", true, []runtimes.Mount{etc, {bash + "/bin", "/bin"}, {bash + "/usr/bin", "/usr/bin"}}},
	} {
		got, err := catalog.Mounts(runtimes.Request{Libc: tc.libc, Bash: tc.requiresBash})
		if err != nil {
			t.Errorf("Mounts(%q, %v): %v", tc.libc, tc.requiresBash, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Mounts(%q, %v) = %+v, want %+v", tc.libc, tc.requiresBash, got, tc.want)
		}
	}
}

func TestCatalogUnknownRuntime(t *testing.T) {
	dir := standardImage(t)
	for _, tc := range []struct {
		arch         string
		libc         string
		requiresBash bool
		wantText     string
	}{
		{"x86_64", "glibc2.31", false, `libc runtime "glibc2.31" is not in the runtime image for x86_64 (available: glibc2.36, glibc2.41)`},
		{"x86_64", "musl", true, `(available: glibc2.36, glibc2.41)`},
		{"aarch64", "glibc2.41", false, `(available: glibc2.31, glibc2.36)`},
		{"aarch64", "", true, `shell runtime "bash" is not in the runtime image for aarch64 (available: none)`},
	} {
		catalog, err := runtimes.OpenArch(context.Background(), dir, tc.arch)
		if err != nil {
			t.Fatalf("OpenArch(%s): %v", tc.arch, err)
		}
		_, err = catalog.Mounts(runtimes.Request{Libc: tc.libc, Bash: tc.requiresBash})
		if !errors.Is(err, runtimes.ErrUnknownRuntime) {
			t.Errorf("%s Mounts(%q, %v): got error %v, want %v", tc.arch, tc.libc, tc.requiresBash, err, runtimes.ErrUnknownRuntime)
			continue
		}
		var unknown *runtimes.UnknownRuntimeError
		if !errors.As(err, &unknown) {
			t.Errorf("error %v is not an *UnknownRuntimeError", err)
		}
		if !strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("error %q does not contain %q", err, tc.wantText)
		}
	}
}

func TestOpenRejectsBrokenImages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		image    func(t *testing.T) string
		wantText string
	}{
		{"no common etc", func(t *testing.T) string {
			dir := standardImage(t)
			os.RemoveAll(filepath.Join(dir, "common"))
			return dir
		}, "common/root/etc"},
		{"name does not match directory", func(t *testing.T) string {
			dir := writeFakeImage(t, fakeRuntime{"libc", "glibc2.36", "x86_64", []string{"lib"}, libcMounts[:1]})
			os.Rename(filepath.Join(dir, "libc/glibc2.36"), filepath.Join(dir, "libc/glibc2.99"))
			return dir
		}, `manifest names runtime "glibc2.36", but it is in directory "glibc2.99"`},
		{"image path escapes", func(t *testing.T) string {
			return writeFakeImage(t, fakeRuntime{"libc", "glibc2.36", "x86_64", nil,
				[]runtimes.ManifestMount{{ImagePath: "../../../common", SandboxPath: "/lib"}}})
		}, `image_path "../../../common"`},
		{"relative sandbox path", func(t *testing.T) string {
			return writeFakeImage(t, fakeRuntime{"libc", "glibc2.36", "x86_64", []string{"lib"},
				[]runtimes.ManifestMount{{ImagePath: "root/lib", SandboxPath: "lib"}}})
		}, `sandbox_path "lib"`},
		{"missing mount source", func(t *testing.T) string {
			return writeFakeImage(t, fakeRuntime{"libc", "glibc2.36", "x86_64", []string{"lib"}, libcMounts})
		}, "lib64"},
		{"mount source is a symlink", func(t *testing.T) string {
			dir := writeFakeImage(t, fakeRuntime{"libc", "glibc2.36", "x86_64", []string{"usr/lib"},
				[]runtimes.ManifestMount{{ImagePath: "root/lib", SandboxPath: "/lib"}}})
			os.Symlink("usr/lib", filepath.Join(dir, "libc/glibc2.36/x86_64/root/lib"))
			return dir
		}, "is not a directory"},
		{"wrong arch in manifest", func(t *testing.T) string {
			dir := writeFakeImage(t, fakeRuntime{"libc", "glibc2.36", "aarch64", []string{"lib"}, libcMounts[:1]})
			os.Rename(filepath.Join(dir, "libc/glibc2.36/aarch64"), filepath.Join(dir, "libc/glibc2.36/x86_64"))
			return dir
		}, `arch "aarch64", want "x86_64"`},
		{"shell manifest of kind libc", func(t *testing.T) string {
			dir := writeFakeImage(t, fakeRuntime{"libc", "bash", "x86_64", []string{"bin"}, bashMounts[:1]})
			os.MkdirAll(filepath.Join(dir, "shell/bash"), 0o755)
			os.Rename(filepath.Join(dir, "libc/bash/x86_64"), filepath.Join(dir, "shell/bash/x86_64"))
			return dir
		}, `kind "libc", want "shell"`},
		{"unknown manifest field", func(t *testing.T) string {
			dir := writeFakeImage(t, fakeRuntime{"libc", "glibc2.36", "x86_64", []string{"lib"}, libcMounts[:1]})
			mustWrite(t, filepath.Join(dir, "libc/glibc2.36/x86_64", runtimes.ManifestFileName),
				`{"version": 1, "name": "glibc2.36", "kind": "libc", "arch": "x86_64", "mountz": []}`)
			return dir
		}, `unknown field "mountz"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runtimes.OpenArch(context.Background(), tc.image(t), "x86_64")
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("OpenArch: got error %v, want one containing %q", err, tc.wantText)
			}
		})
	}
}

func TestOpenHostArch(t *testing.T) {
	arch := runtimes.ArchForGOARCH(runtime.GOARCH)
	if arch == "" {
		// The only legitimate absence: no runtime is built for this CPU.
		t.Skipf("no runtimes exist for GOARCH %s", runtime.GOARCH)
	}
	dir := standardImage(t)
	catalog, err := runtimes.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open on an image with runtimes for %s: %v", arch, err)
	}
	if got := catalog.Arch(); got != arch {
		t.Errorf("Arch() = %q, want %q", got, arch)
	}
	if got := catalog.Names(); !slices.Contains(got, "glibc2.36") {
		t.Errorf("Open for host arch %s: Names() = %q, want glibc2.36 among them", arch, got)
	}
}

var rootfsMounts = []runtimes.ManifestMount{
	{ImagePath: "root/bin", SandboxPath: "/bin"},
	{ImagePath: "root/usr", SandboxPath: "/usr"},
}

// rootfsImage is standardImage plus two x86_64 rootfs runtimes: gcc12,
// whose /bin/bash is a symlink to an executable, and bare, without bash.
func rootfsImage(t *testing.T) string {
	t.Helper()
	dir := standardImage(t)
	extra := writeFakeImage(t,
		fakeRuntime{"rootfs", "gcc12", "x86_64", []string{"bin", "usr/bin"}, rootfsMounts},
		fakeRuntime{"rootfs", "bare", "x86_64", []string{"bin", "usr"}, rootfsMounts},
	)
	if err := os.Rename(filepath.Join(extra, "rootfs"), filepath.Join(dir, "rootfs")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "rootfs/gcc12/x86_64/root/usr/bin/bash"), "#!fake\n")
	if err := os.Chmod(filepath.Join(dir, "rootfs/gcc12/x86_64/root/usr/bin/bash"), 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../usr/bin/bash", filepath.Join(dir, "rootfs/gcc12/x86_64/root/bin/bash")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCatalogRootfs(t *testing.T) {
	dir := rootfsImage(t)
	catalog, err := runtimes.OpenArch(context.Background(), dir, "x86_64")
	if err != nil {
		t.Fatalf("OpenArch: %v", err)
	}
	if got, want := catalog.RootfsNames(), []string{"bare", "gcc12"}; !reflect.DeepEqual(got, want) {
		t.Errorf("RootfsNames() = %q, want %q", got, want)
	}
	if got, want := catalog.Names(), []string{"glibc2.36", "glibc2.41"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %q, want %q (rootfs runtimes are not libc values)", got, want)
	}
	gcc := filepath.Join(dir, "rootfs/gcc12/x86_64/root")
	if got, ok := catalog.RootfsDir("gcc12"); !ok || got != gcc {
		t.Errorf("RootfsDir(gcc12) = %q, %v; want %q, true", got, ok, gcc)
	}
	if got, ok := catalog.RootfsDir("glibc2.36"); ok {
		t.Errorf("RootfsDir(glibc2.36) = %q, true; want false for a libc runtime", got)
	}
	etc := runtimes.Mount{Source: filepath.Join(dir, "common/root/etc"), Target: "/etc"}
	wantGcc := []runtimes.Mount{etc, {gcc + "/bin", "/bin"}, {gcc + "/usr", "/usr"}}
	for _, tc := range []struct {
		name     string
		req      runtimes.Request
		want     []runtimes.Mount
		wantErr  error
		wantText string
	}{
		{name: "rootfs", req: runtimes.Request{Rootfs: "gcc12"}, want: wantGcc},
		{name: "rootfs with libc none", req: runtimes.Request{Rootfs: "gcc12", Libc: "none"}, want: wantGcc},
		{name: "bash from the rootfs", req: runtimes.Request{Rootfs: "gcc12", Bash: true}, want: wantGcc},
		{name: "rootfs and libc", req: runtimes.Request{Rootfs: "gcc12", Libc: "glibc2.36"},
			wantErr: runtimes.ErrConflictingRuntimes, wantText: "brings its own libc"},
		{name: "bash from a rootfs without", req: runtimes.Request{Rootfs: "bare", Bash: true},
			wantErr: runtimes.ErrConflictingRuntimes, wantText: `"bare", which has no /bin/bash`},
		{name: "unknown rootfs", req: runtimes.Request{Rootfs: "clang19"},
			wantErr: runtimes.ErrUnknownRuntime, wantText: `rootfs runtime "clang19" is not in the runtime image for x86_64 (available: bare, gcc12)`},
		{name: "libc name as rootfs", req: runtimes.Request{Rootfs: "glibc2.36"},
			wantErr: runtimes.ErrUnknownRuntime, wantText: "(available: bare, gcc12)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := catalog.Mounts(tc.req)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(fmt.Sprint(err), tc.wantText) {
					t.Fatalf("Mounts(%+v): got error %v, want %v containing %q", tc.req, err, tc.wantErr, tc.wantText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Mounts(%+v): %v", tc.req, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Mounts(%+v) = %+v, want %+v", tc.req, got, tc.want)
			}
		})
	}
}

func TestOpenRejectsBrokenRootfs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		runtime  fakeRuntime
		wantText string
	}{
		{"name clashes with a libc", fakeRuntime{"rootfs", "glibc2.36", "x86_64", []string{"bin"}, rootfsMounts[:1]},
			`runtime name "glibc2.36" is used by both`},
		{"name clashes with the shell", fakeRuntime{"rootfs", "bash", "x86_64", []string{"bin"}, rootfsMounts[:1]},
			`runtime name "bash" is used by both`},
		{"mounts on /tmp", fakeRuntime{"rootfs", "gcc12", "x86_64", []string{"tmp"},
			[]runtimes.ManifestMount{{ImagePath: "root/tmp", SandboxPath: "/tmp"}}}, "mounts on /tmp, which the sandbox provides"},
		{"mounts below /proc", fakeRuntime{"rootfs", "gcc12", "x86_64", []string{"proc/sys"},
			[]runtimes.ManifestMount{{ImagePath: "root/proc/sys", SandboxPath: "/proc/sys"}}}, "mounts on /proc/sys"},
		{"kind libc under rootfs", fakeRuntime{"libc", "gcc12", "x86_64", []string{"bin"}, rootfsMounts[:1]}, `kind "libc", want "rootfs"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := standardImage(t)
			extra := writeFakeImage(t, tc.runtime)
			if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(extra, tc.runtime.kind, tc.runtime.name), filepath.Join(dir, "rootfs", tc.runtime.name)); err != nil {
				t.Fatal(err)
			}
			_, err := runtimes.OpenArch(context.Background(), dir, "x86_64")
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("OpenArch: got error %v, want one containing %q", err, tc.wantText)
			}
		})
	}
}

func TestCatalogProviders(t *testing.T) {
	dir := rootfsImage(t)
	mustWrite(t, filepath.Join(dir, "rootfs/gcc12/x86_64/root/usr/bin/gcc"), "#!fake\n")
	mustWrite(t, filepath.Join(dir, "libc/glibc2.36/x86_64/root/lib64/ld-linux-x86-64.so.2"), "fake\n")
	mustWrite(t, filepath.Join(dir, "libc/glibc2.41/x86_64/root/usr/lib64/ld-linux-x86-64.so.2"), "fake\n")
	catalog, err := runtimes.OpenArch(context.Background(), dir, "x86_64")
	if err != nil {
		t.Fatalf("OpenArch: %v", err)
	}
	for _, tc := range []struct {
		path string
		want []runtimes.Provider
	}{
		{"/usr/bin/gcc", []runtimes.Provider{{Kind: runtimes.KindRootfs, Name: "gcc12"}}},
		{"/lib64/ld-linux-x86-64.so.2", []runtimes.Provider{{Kind: runtimes.KindLibc, Name: "glibc2.36"}, {Kind: runtimes.KindLibc, Name: "glibc2.41"}}},
		{"/bin/bash", []runtimes.Provider{{Kind: runtimes.KindRootfs, Name: "gcc12"}}},
		{"/usr/bin/clang", nil},
		{"/usr/binary", nil}, // a target that is only a string prefix
	} {
		t.Run(tc.path, func(t *testing.T) {
			if got := catalog.Providers(tc.path); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Providers(%q) = %+v, want %+v", tc.path, got, tc.want)
			}
		})
	}
}
