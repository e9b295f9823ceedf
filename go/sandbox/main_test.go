//go:build linux

package sandbox_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/sandbox"
)

// probePath is the static helper from testdata/probe, built once by
// TestMain; empty when it could not be built (tests needing it skip).
var (
	probePath     string
	probeBuildErr error
	// errNoGoTool: the probe could not be built for want of a toolchain,
	// a reason to skip rather than fail.
	errNoGoTool = errors.New("no go tool to build the probe helper")
)

func TestMain(m *testing.M) {
	// The test binary is also the sandbox init.
	sandbox.MaybeRunInit()
	dir, err := os.MkdirTemp("", "sandbox-probe-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	probePath, probeBuildErr = buildProbe(dir)
	code := m.Run()
	os.RemoveAll(dir)
	// Nothing of ours may stay mounted in the host's mount namespace.
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), "actiond-sandbox-root-") {
		fmt.Fprintf(os.Stderr, "FAIL: sandbox mounts leaked into the host mount namespace:\n%s", b)
		code = 1
	}
	os.Exit(code)
}

func buildProbe(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			return "", fmt.Errorf("%w: %v", errNoGoTool, err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "probe")
	cmd := exec.Command(goTool, "build", "-o", out, "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build probe helper: %v\n%s", err, b)
	}
	return out, nil
}
