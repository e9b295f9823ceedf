// Package testbin gives tests the helper programs they run: under `bazel
// test`, a go_binary that the go_test target passes in its data; under
// `go test`, one built with `go build` while the test runs.
//
// The go_test names the binary in an environment variable:
//
//	go_test(
//	    name = "sandbox_test",
//	    data = ["//go/sandbox/testdata/probe"],
//	    env = {"PROBE_BIN": "$(rlocationpath //go/sandbox/testdata/probe)"},
//	    ...
//	)
//
// and the test calls Path("PROBE_BIN", "./testdata/probe", dir). Bazel's
// test sandbox has no go tool, and a build there would skip or fail.
package testbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// ErrNoGoTool is returned (wrapped) when a helper must be built and there
// is no go tool; tests may skip on it.
var ErrNoGoTool = errors.New("no go tool to build the test helper")

// Path returns the path of the helper program of package pkg, a directory
// relative to the test's own such as "./testdata/probe".
//
// When the environment variable env is set, it holds the runfiles path of
// the helper ($(rlocationpath ...) in the go_test's env), and Path returns
// that file under RUNFILES_DIR (or TEST_SRCDIR) with symlinks resolved, so
// it can be bind-mounted or copied; nothing is built. Otherwise Path builds
// pkg statically (CGO_ENABLED=0, as the go_binary is pure) into dir with
// the go tool on PATH or in GOROOT, and returns the new file.
func Path(env, pkg, dir string) (string, error) {
	if rel := os.Getenv(env); rel != "" {
		return fromRunfiles(env, rel)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, statErr := os.Stat(goTool); statErr != nil {
			return "", fmt.Errorf("%w for %s: %v", ErrNoGoTool, pkg, statErr)
		}
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command(goTool, "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

func fromRunfiles(env, rel string) (string, error) {
	root := os.Getenv("RUNFILES_DIR")
	if root == "" {
		root = os.Getenv("TEST_SRCDIR")
	}
	if root == "" {
		return "", fmt.Errorf("%s=%s is set but neither RUNFILES_DIR nor TEST_SRCDIR is", env, rel)
	}
	p, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return "", fmt.Errorf("helper %s=%s: %w", env, rel, err)
	}
	return p, nil
}
