//go:build linux

package executor_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/deb"
	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/runtimes/builder"
	"github.com/actiond/actiond/go/sandbox"
)

// aptClosure resolves packages and their dependency closure for the host
// architecture with go/deb against apt's package lists (essential packages
// included: a rootfs is a whole system), downloads exactly the locked files
// from the archive with their hashes checked, and returns the .deb files. It
// skips the test when there are no package lists or the archive cannot be
// reached.
func aptClosure(t *testing.T, packages ...string) []string {
	t.Helper()
	arch := goruntime.GOARCH // Debian's names for amd64 and arm64 are Go's
	lists, _ := filepath.Glob("/var/lib/apt/lists/*_binary-" + arch + "_Packages*")
	if len(lists) == 0 {
		t.Skipf("no apt package lists for %s (run apt-get update): this test builds a rootfs from Debian packages", arch)
	}
	var indexes []*deb.Index
	for _, l := range lists {
		idx, err := deb.ReadIndexFile(l)
		if err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, idx)
	}
	opts := deb.ResolveOptions{Arch: arch, IncludeEssential: true}
	res, err := deb.Resolve(indexes, packages, opts)
	if err != nil {
		t.Fatalf("resolving %s: %v", strings.Join(packages, " "), err)
	}
	lock, err := deb.NewLock(res, packages, opts)
	if err != nil {
		t.Fatal(err)
	}
	debs, err := deb.Fetch(t.Context(), lock, t.TempDir(), deb.FetchOptions{})
	if err != nil {
		t.Skipf("downloading the closure of %s from the archive: %v", strings.Join(packages, " "), err)
	}
	return debs
}

// rootfsImage builds an unpacked runtime image holding the common etc and
// one rootfs runtime, name, from packages and their closure.
func rootfsImage(t *testing.T, name string, packages ...string) string {
	t.Helper()
	arch := runtimes.ArchForGOARCH(goruntime.GOARCH)
	if arch == "" {
		t.Skipf("no runtimes exist for GOARCH %s", goruntime.GOARCH)
	}
	debs := aptClosure(t, packages...)
	image := t.TempDir()
	for file, content := range map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"group":  "root:x:0:\nnogroup:x:65534:\n",
		"hosts":  "127.0.0.1 localhost\n",
	} {
		p := filepath.Join(image, "common/root/etc", file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	out := filepath.Join(image, "rootfs", name, arch)
	if _, err := builder.Build(t.Context(), builder.Options{Name: name, Kind: runtimes.KindRootfs, Arch: arch, Debs: debs, Out: out}); err != nil {
		t.Fatalf("building rootfs %s from %d packages: %v", name, len(debs), err)
	}
	t.Logf("rootfs %s: %d packages extracted in %s", name, len(debs), time.Since(start).Round(time.Millisecond))
	return image
}

// withCatalog configures the executor with the image's catalog and, when
// rootless, a sandbox runner in rootless mode.
func withCatalog(t *testing.T, image string, rootless bool) func(*executor.Options) {
	return func(o *executor.Options) {
		catalog, err := runtimes.Open(context.Background(), image)
		if err != nil {
			t.Fatalf("runtimes.Open: %v", err)
		}
		o.Runtimes = catalog
		if rootless {
			runner, err := sandbox.NewRunner(slog.New(slog.NewTextHandler(io.Discard, nil)), sandbox.Options{Rootless: true})
			if err != nil {
				t.Fatalf("sandbox.NewRunner: %v", err)
			}
			t.Cleanup(func() { runner.Close() })
			o.Runner = runner
		}
	}
}

// runInRootfs runs script with /bin/bash in the rootfs runtime name with
// input as the file in.txt, and returns the response and the outputs.
func runInRootfs(t *testing.T, e *realEnv, name, script string, inputs map[string]string, outputs ...string) (*repb.ExecuteResponse, map[string]string) {
	t.Helper()
	var files []*repb.FileNode
	for file, content := range inputs {
		files = append(files, &repb.FileNode{Name: file, Digest: e.put(t, []byte(content)).Proto()})
	}
	cmd := &repb.Command{
		Arguments:            []string{"/bin/bash", "-c", script},
		EnvironmentVariables: []*repb.Command_EnvironmentVariable{{Name: "PATH", Value: "/usr/bin:/bin"}},
		OutputPaths:          outputs,
		Platform: &repb.Platform{Properties: []*repb.Platform_Property{
			{Name: "requires-bash", Value: ""},
			{Name: "runtime", Value: name},
		}},
	}
	op, _ := e.execute(t, t.Context(), cmd, e.inputRoot(t, files...), 0)
	resp := waitDone(t, op)
	wantCode(t, resp, codes.OK)
	got := map[string]string{}
	for _, f := range resp.GetResult().GetOutputFiles() {
		got[f.GetPath()] = e.blob(t, f.GetDigest())
	}
	return resp, got
}

func TestIntegrationRootfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the sandbox mounts and switches users")
	}
	image := rootfsImage(t, "bookworm-base", "bash", "coreutils")
	rootfs := filepath.Join(image, "rootfs", "bookworm-base", runtimes.ArchForGOARCH(goruntime.GOARCH), "root")
	before := treeListing(t, rootfs)
	// The script lists the mount options of the rootfs's directories and
	// of /, tries to write into the rootfs, and copies the input.
	const script = `set -u
ls /usr/bin > /dev/null
echo "ls: $(ls /bin/ls)"
while read -r _ _ _ _ mp opts _; do
  case "$mp" in /|/bin|/usr|/lib|/execroot) echo "mount $mp $opts" ;; esac
done < /proc/self/mountinfo
for f in /usr/bin/probe /bin/probe /lib/probe; do
  if echo x > "$f"; then echo "wrote $f"; fi
done 2>/dev/null
cat in.txt > out.txt
`
	for _, rootless := range []bool{false, true} {
		t.Run(map[bool]string{false: "root", true: "rootless"}[rootless], func(t *testing.T) {
			e := newRealEnv(t, withCatalog(t, image, rootless))
			resp, outputs := runInRootfs(t, e, "bookworm-base", script, map[string]string{"in.txt": "from the inputs\n"}, "out.txt")
			res := resp.GetResult()
			stdout, stderr := e.blob(t, res.GetStdoutDigest()), e.blob(t, res.GetStderrDigest())
			if res.GetExitCode() != 0 {
				t.Fatalf("exit code %d; stdout:\n%s\nstderr:\n%s", res.GetExitCode(), stdout, stderr)
			}
			if !strings.Contains(stdout, "ls: /bin/ls\n") {
				t.Errorf("stdout %q does not show /bin/ls from the rootfs", stdout)
			}
			if strings.Contains(stdout, "wrote") {
				t.Errorf("the action wrote into the rootfs:\n%s", stdout)
			}
			mounts := map[string]string{}
			for _, line := range strings.Split(stdout, "\n") {
				if f := strings.Fields(line); len(f) == 3 && f[0] == "mount" {
					mounts[f[1]] = f[2]
				}
			}
			for _, mp := range []string{"/bin", "/usr", "/lib"} {
				if opts, ok := mounts[mp]; !ok || !slices.Contains(strings.Split(opts, ","), "ro") {
					t.Errorf("mount %s has options %q (present %v), want ro; stdout:\n%s", mp, opts, ok, stdout)
				}
			}
			if outputs["out.txt"] != "from the inputs\n" {
				t.Errorf("output out.txt = %q, want the input's content; outputs %v, stderr:\n%s", outputs["out.txt"], outputs, stderr)
			}
			if after := treeListing(t, rootfs); !bytes.Equal(before, after) {
				t.Errorf("the rootfs on the host changed")
			}
		})
	}
}

// TestIntegrationRootfsGcc compiles and runs C and C++ programs with
// Debian's gcc and g++ from a rootfs runtime: /usr/bin/gcc, its built-in
// include directories and libraries, as Bazel's autodetected toolchain on a
// Debian host uses them.
func TestIntegrationRootfsGcc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the sandbox mounts and switches users")
	}
	if testing.Short() {
		t.Skip("-short: builds a toolchain rootfs of about 80 MB of packages")
	}
	image := rootfsImage(t, "gcc12", "gcc", "g++", "libc6-dev", "bash", "coreutils")
	e := newRealEnv(t, withCatalog(t, image, false))
	inputs := map[string]string{
		"hello.c":  "#include <stdio.h>\nint main(void) { printf(\"hello from C\\n\"); return 0; }\n",
		"hello.cc": "#include <iostream>\nint main() { std::cout << \"hello from C++\" << std::endl; }\n",
	}
	const script = `set -e
/usr/bin/gcc -O2 -o hello_c hello.c
cc -o hello_cc_via_cc hello.c
c++ -o hello_cxx hello.cc
./hello_c > out.txt
./hello_cxx >> out.txt
`
	resp, outputs := runInRootfs(t, e, "gcc12", script, inputs, "out.txt", "hello_c")
	res := resp.GetResult()
	if res.GetExitCode() != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", res.GetExitCode(), e.blob(t, res.GetStderrDigest()))
	}
	if got, want := outputs["out.txt"], "hello from C\nhello from C++\n"; got != want {
		t.Errorf("out.txt = %q, want %q", got, want)
	}
	if !strings.HasPrefix(outputs["hello_c"], "\x7fELF") {
		t.Errorf("hello_c is not an ELF file (%d bytes)", len(outputs["hello_c"]))
	}
	md := res.GetExecutionMetadata()
	t.Logf("three compilations and two runs took %s in the sandbox", md.GetExecutionCompletedTimestamp().AsTime().Sub(md.GetExecutionStartTimestamp().AsTime()))
}

// treeListing describes every entry under dir (path, mode, size, mtime),
// to check that actions leave the rootfs alone.
func treeListing(t *testing.T, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d %d\n", p, info.Mode(), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
