//go:build linux

package sandbox_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/internal/testbin"
	"github.com/actiond/actiond/go/sandbox"
)

// probePath is the static helper from testdata/probe, built once by
// TestMain; empty when it could not be built (tests needing it skip).
var (
	probePath     string
	probeBuildErr error
	// errNoGoTool: the probe could not be built for want of a toolchain,
	// a reason to skip rather than fail.
	errNoGoTool = testbin.ErrNoGoTool
)

func TestMain(m *testing.M) {
	// The test binary is also the sandbox init.
	sandbox.MaybeRunInit()
	if os.Getpid() == 1 && os.Getenv(guestEnv) != "" {
		runAsGuestInit(m) // TestHostileAttemptsInGuest's guest; powers off
	}
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
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	return testbin.Path("PROBE_BIN", "./testdata/probe", dir)
}
