package daemon_test

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"

	"github.com/actiond/actiond/go/daemon"
	"github.com/actiond/actiond/go/reapi/reapitest"
	"github.com/actiond/actiond/go/runtimes/builder"
)

// runtimeImageEnv names a runtime image holding glibc2.31 and glibc2.36 (from
// e2e/build_local_runtimes.sh --suites bullseye,bookworm); e2e/test_all.sh
// builds one and sets it.
const runtimeImageEnv = "ACTIOND_TEST_RUNTIME_IMAGE"

// requireRuntimeImage returns the image named by runtimeImageEnv, or skips
// the test when there is none or it cannot be mounted.
func requireRuntimeImage(t *testing.T) string {
	t.Helper()
	image := os.Getenv(runtimeImageEnv)
	switch {
	case os.Geteuid() != 0:
		t.Skip("needs root to mount the runtime image and run namespace sandboxes")
	case image == "":
		t.Skipf("set %s to a runtime image with glibc2.31 and glibc2.36 (e2e/build_local_runtimes.sh --suites bullseye,bookworm OUT.sqfs)", runtimeImageEnv)
	}
	return image
}

const glibcVersionProgram = `#include <stdio.h>
#include <gnu/libc-version.h>
int main(void) { printf("glibc %s\n", gnu_get_libc_version()); return 0; }
`

// TestDynamicProgramUsesTheRuntimeGlibc runs a program linked against the
// host's glibc 2.36 through the executor: with libc=glibc2.36 it prints that
// version from the image's glibc, without a runtime it cannot start (its ELF
// interpreter is absent), and under glibc2.31 the loader refuses it, which
// proves the image's glibc is the one used.
func TestDynamicProgramUsesTheRuntimeGlibc(t *testing.T) {
	image := requireRuntimeImage(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc to build the dynamically linked test program")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "hello.c")
	if err := os.WriteFile(src, []byte(glibcVersionProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
	if out, err := exec.Command("gcc", "-O1", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	program, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}

	conn, _ := startDaemon(t, daemon.Config{
		Root:         filepath.Join(dir, "root"),
		Execution:    true,
		RuntimeImage: image,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	tests := []struct {
		name       string
		libc       string
		wantExit   int32
		wantStdout string
		wantStderr []string
	}{
		{name: "glibc2.36", libc: "glibc2.36", wantExit: 0, wantStdout: "glibc 2.36\n"},
		{name: "no runtime", libc: "", wantExit: 127, wantStderr: []string{"ld-linux", "libc="}},
		{name: "glibc2.31 is too old", libc: "glibc2.31", wantExit: 1, wantStderr: []string{"GLIBC_2.3", "not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := executeProgram(t, conn, program, tc.libc)
			stdout, stderr := reapitest.ReadBlob(t, conn, res.GetStdoutDigest()), reapitest.ReadBlob(t, conn, res.GetStderrDigest())
			if res.GetExitCode() != tc.wantExit {
				t.Errorf("exit code = %d, want %d; stdout %q, stderr %q", res.GetExitCode(), tc.wantExit, stdout, stderr)
			}
			if tc.wantStdout != "" && stdout != tc.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout, tc.wantStdout)
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr = %q, want it to mention %q", stderr, want)
				}
			}
		})
	}
}

// executeProgram uploads program as the input root's only file and runs it
// with the given libc property, returning the ActionResult.
func executeProgram(t *testing.T, conn *grpc.ClientConn, program []byte, libc string) *repb.ActionResult {
	t.Helper()
	var platform *repb.Platform
	if libc != "" {
		platform = &repb.Platform{Properties: []*repb.Platform_Property{{Name: "libc", Value: libc}}}
	}
	resp := execute(t, conn, actionSpec{
		files: map[string][]byte{"hello": program},
		cmd:   &repb.Command{Arguments: []string{"./hello"}, Platform: platform},
	})
	if resp.GetStatus().GetCode() != 0 {
		t.Fatalf("ExecuteResponse.status = %v", resp.GetStatus())
	}
	return resp.GetResult()
}

// TestShellRuntimeApplets runs a script in the shell runtime of the real
// image (requires-bash) checking that every command the runtime builder
// links to busybox is an applet of the packaged busybox and is on /bin and
// /usr/bin, so genrules calling them work remotely, and that the action's
// user has a name.
func TestShellRuntimeApplets(t *testing.T) {
	image := requireRuntimeImage(t)
	dir := t.TempDir()
	conn, _ := startDaemon(t, daemon.Config{
		Root:         filepath.Join(dir, "root"),
		Execution:    true,
		RuntimeImage: image,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	script := `list=" $(busybox --list | tr '\n' ' ') "
for a in ` + strings.Join(builder.BusyboxApplets(), " ") + `; do
  case "$list" in *" $a "*) ;; *) echo "not a busybox applet: $a" ;; esac
  [ -x "/bin/$a" ] && [ -x "/usr/bin/$a" ] || echo "not linked: $a"
done
echo "user $(whoami) $(id -gn)"
echo checked`
	platform := &repb.Platform{Properties: []*repb.Platform_Property{{Name: "requires-bash", Value: ""}}}
	resp := execute(t, conn, actionSpec{
		cmd: &repb.Command{Arguments: []string{"/bin/bash", "-c", script}, Platform: platform},
	})
	if resp.GetStatus().GetCode() != 0 {
		t.Fatalf("ExecuteResponse.status = %v", resp.GetStatus())
	}
	res := resp.GetResult()
	stdout, stderr := reapitest.ReadBlob(t, conn, res.GetStdoutDigest()), reapitest.ReadBlob(t, conn, res.GetStderrDigest())
	// The image's /etc names the action's user (uid 65534 as root).
	if want := "user nobody nogroup\nchecked\n"; res.GetExitCode() != 0 || stdout != want {
		t.Errorf("exit code %d, stdout %q, stderr %q; want 0 and %q", res.GetExitCode(), stdout, stderr, want)
	}
}
