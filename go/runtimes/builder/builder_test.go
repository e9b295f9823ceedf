package builder_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/runtimes/builder"
)

// makeDeb builds a .deb with dpkg-deb. files maps paths to contents; a
// value "@/host/path" copies a host file.
func makeDeb(t *testing.T, pkg, arch string, files map[string]string) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed: install dpkg")
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	control := "Package: " + pkg + "\nVersion: 1.0\nArchitecture: " + arch + "\nMaintainer: T <t@example.com>\nDescription: test\n"
	files["DEBIAN/control"] = control
	for name, content := range files {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(content, "@") {
			b, err := os.ReadFile(content[1:])
			if err != nil {
				t.Fatal(err)
			}
			content = string(b)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, pkg+"_1.0_"+arch+".deb")
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, b)
	}
	return out
}

func TestBuildShell(t *testing.T) {
	for _, tc := range []struct {
		name       string
		files      map[string]string
		wantMounts []runtimes.ManifestMount
		wantBash   []string // paths that must be hard links of bash-static
	}{
		{
			name:  "bookworm layout",
			files: map[string]string{"bin/bash-static": "#!static bash\n", "usr/share/man/man1/bash-static.1.gz": "man"},
			wantMounts: []runtimes.ManifestMount{
				{ImagePath: "root/bin", SandboxPath: "/bin"},
				{ImagePath: "root/usr/bin", SandboxPath: "/usr/bin"},
			},
			wantBash: []string{"root/bin/bash", "root/usr/bin/bash"},
		},
		{
			name:  "merged usr",
			files: map[string]string{"usr/bin/bash-static": "#!static bash\n"},
			wantMounts: []runtimes.ManifestMount{
				{ImagePath: "root/usr/bin", SandboxPath: "/bin"},
				{ImagePath: "root/usr/bin", SandboxPath: "/usr/bin"},
			},
			wantBash: []string{"root/usr/bin/bash", "root/bin/bash"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debFile := makeDeb(t, "bash-static", "amd64", tc.files)
			var manifests [][]byte
			for range 2 {
				out := filepath.Join(t.TempDir(), "bash")
				m, err := builder.Build(context.Background(), builder.Options{
					Name: "bash", Kind: runtimes.KindShell, Arch: "x86_64", Debs: []string{debFile}, Out: out,
				})
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				if !reflect.DeepEqual(m.Mounts, tc.wantMounts) {
					t.Errorf("mounts = %+v, want %+v", m.Mounts, tc.wantMounts)
				}
				if len(m.Debs) != 1 || m.Debs[0].File != filepath.Base(debFile) || len(m.Debs[0].SHA256) != 64 || m.Debs[0].Package != "bash-static" {
					t.Errorf("debs = %+v, want one bash-static entry with a sha256", m.Debs)
				}
				static, err := os.Stat(filepath.Join(out, "root", strings.TrimPrefix(tc.wantMounts[0].ImagePath, "root/"), "bash-static"))
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range tc.wantBash {
					info, err := os.Stat(filepath.Join(out, p))
					if err != nil || !os.SameFile(info, static) {
						t.Errorf("%s: got %v, %v; want a hard link of bash-static", p, info, err)
					}
				}
				b, err := os.ReadFile(filepath.Join(out, runtimes.ManifestFileName))
				if err != nil {
					t.Fatal(err)
				}
				read, err := runtimes.ReadManifest(filepath.Join(out, runtimes.ManifestFileName))
				if err != nil {
					t.Fatalf("ReadManifest: %v", err)
				}
				if !reflect.DeepEqual(read, m) {
					t.Errorf("manifest file = %+v, want %+v", read, m)
				}
				manifests = append(manifests, b)
			}
			if string(manifests[0]) != string(manifests[1]) {
				t.Errorf("two builds gave different manifests:\n%s\n%s", manifests[0], manifests[1])
			}
		})
	}
}

// Options.Progress hears of each package extracted.
func TestBuildProgress(t *testing.T) {
	debs := []string{
		makeDeb(t, "bash-static", "amd64", map[string]string{"bin/bash-static": "#!static bash\n"}),
		makeDeb(t, "extra", "amd64", map[string]string{"usr/bin/extra": "#!extra\n"}),
	}
	var calls [][2]int64
	_, err := builder.Build(context.Background(), builder.Options{
		Name: "bash", Kind: runtimes.KindShell, Arch: "x86_64", Debs: debs, Out: filepath.Join(t.TempDir(), "bash"),
		Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) },
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if want := [][2]int64{{1, 2}, {2, 2}}; !reflect.DeepEqual(calls, want) {
		t.Errorf("progress calls %v, want %v", calls, want)
	}
}

func TestBuildErrors(t *testing.T) {
	// A small host ELF; the test binary itself is large to compress.
	hostELF, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	if hostELF, err = filepath.EvalSymlinks(hostELF); err != nil {
		t.Fatal(err)
	}
	otherArch := "aarch64"
	if runtime.GOARCH == "arm64" {
		otherArch = "x86_64"
	}
	for _, tc := range []struct {
		name     string
		opts     func(t *testing.T) builder.Options
		wantText string
	}{
		{"package for another arch", func(t *testing.T) builder.Options {
			return builder.Options{Name: "glibc9.9", Kind: "libc", Arch: "aarch64", Debs: []string{makeDeb(t, "libc6", "amd64", map[string]string{"lib/libc.so.6": "x"})}}
		}, `architecture "amd64" does not match runtime arch aarch64`},
		{"ELF for another machine", func(t *testing.T) builder.Options {
			return builder.Options{Name: "glibc9.9", Kind: "libc", Arch: otherArch, Debs: []string{makeDeb(t, "libc6", "all", map[string]string{"lib/tool": "@" + hostELF})}}
		}, "lib/tool: ELF machine"},
		{"shell without bash", func(t *testing.T) builder.Options {
			return builder.Options{Name: "bash", Kind: "shell", Arch: "x86_64", Debs: []string{makeDeb(t, "dash", "amd64", map[string]string{"bin/dash": "x"})}}
		}, "neither bin/bash nor bin/bash-static"},
		{"libc without library directories", func(t *testing.T) builder.Options {
			return builder.Options{Name: "glibc9.9", Kind: "libc", Arch: "x86_64", Debs: []string{makeDeb(t, "libc6", "amd64", map[string]string{"opt/x": "x"})}}
		}, "has none of the directories"},
		{"bad name", func(t *testing.T) builder.Options {
			return builder.Options{Name: "../x", Kind: "libc", Arch: "x86_64", Debs: []string{"x.deb"}}
		}, `runtime name "../x"`},
		{"bad kind", func(t *testing.T) builder.Options {
			return builder.Options{Name: "x", Kind: "musl", Arch: "x86_64", Debs: []string{"x.deb"}}
		}, `kind "musl"`},
		{"no debs", func(t *testing.T) builder.Options {
			return builder.Options{Name: "x", Kind: "libc", Arch: "x86_64"}
		}, "no .deb files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts(t)
			o.Out = filepath.Join(t.TempDir(), "out")
			_, err := builder.Build(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Build: got error %v, want one containing %q", err, tc.wantText)
			}
		})
	}
}

// TestBuildRealLibc6 builds a runtime from Debian's real libc6 for the host
// architecture: ACTIOND_TEST_LIBC6_DEB names a .deb to use, otherwise the
// test fetches one with `apt-get download libc6`.
func TestBuildRealLibc6(t *testing.T) {
	arch := runtimes.ArchForGOARCH(runtime.GOARCH)
	wantInterp := map[string]string{"x86_64": "/lib64/ld-linux-x86-64.so.2", "aarch64": "/lib/ld-linux-aarch64.so.1"}[arch]
	if wantInterp == "" {
		t.Skipf("no libc runtime is defined for GOARCH %s", runtime.GOARCH)
	}
	debFile := os.Getenv("ACTIOND_TEST_LIBC6_DEB")
	if debFile == "" {
		dir := t.TempDir()
		cmd := exec.Command("apt-get", "download", "libc6")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("apt-get download libc6 failed (no apt or no archive access; set ACTIOND_TEST_LIBC6_DEB): %v\n%s", err, out)
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "libc6_*.deb"))
		if len(matches) != 1 {
			t.Fatalf("apt-get download libc6 left %v, want one libc6_*.deb", matches)
		}
		debFile = matches[0]
	}
	out := filepath.Join(t.TempDir(), "glibc")
	m, err := builder.Build(context.Background(), builder.Options{
		Name: "glibc-test", Kind: runtimes.KindLibc, Arch: arch, Debs: []string{debFile}, Out: out,
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if !reflect.DeepEqual(m.Interpreters, []string{wantInterp}) {
		t.Errorf("interpreters = %q, want [%q]", m.Interpreters, wantInterp)
	}
	targets := map[string]string{}
	for _, mount := range m.Mounts {
		targets[mount.SandboxPath] = mount.ImagePath
		if info, err := os.Lstat(filepath.Join(out, mount.ImagePath)); err != nil || !info.IsDir() {
			t.Errorf("mount source %s: got %v, %v; want a real directory", mount.ImagePath, info, err)
		}
	}
	// bookworm's usr/lib holds only gconv, so only trixie gets /usr/lib.
	for _, want := range []string{"/lib"} {
		if targets[want] == "" {
			t.Errorf("mounts %+v lack %s", m.Mounts, want)
		}
	}
	// The loader must be reachable through the mounted directory the way
	// the kernel looks it up: /lib64/... in the sandbox is
	// <mount source of /lib64>/...
	interpDir, interpBase := filepath.Split(wantInterp)
	source := targets[filepath.Clean(interpDir)]
	if source == "" {
		t.Fatalf("no mount for %s in %+v", interpDir, m.Mounts)
	}
	if info, err := os.Stat(filepath.Join(out, source, interpBase)); err != nil || !info.Mode().IsRegular() {
		t.Errorf("loader %s via %s: got %v, %v; want a regular file", wantInterp, source, info, err)
	}
	for _, pruned := range []string{"root/usr/share/doc", "root/etc", "root/var"} {
		if _, err := os.Lstat(filepath.Join(out, pruned)); !os.IsNotExist(err) {
			t.Errorf("%s exists, want it pruned", pruned)
		}
	}
	gconv, _ := filepath.Glob(filepath.Join(out, "root/usr/lib/*/gconv"))
	if len(gconv) > 0 {
		t.Errorf("gconv directories %v exist, want them pruned", gconv)
	}
}
