//go:build linux

package sandbox_test

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/internal/testbin"
	"github.com/actiond/actiond/go/sandbox"
)

// heavyInitPrefixes are import paths whose initialization a sandbox init
// must not pay for.
var heavyInitPrefixes = []string{
	"github.com/bazelbuild/",
	"google.golang.org/genproto/",
	"google.golang.org/grpc/grpclog",
	"google.golang.org/protobuf/reflect/",
	"google.golang.org/protobuf/types/",
	"log/slog",
}

// TestInitStartsBeforeHeavyPackages runs testdata/heavyinit, which links
// the heavy packages above, as a sandbox init with GODEBUG=inittrace=1 (one
// line per package initialized) and checks that the init ran before any of
// them.
func TestInitStartsBeforeHeavyPackages(t *testing.T) {
	exe, err := testbin.Path("HEAVYINIT_BIN", "./testdata/heavyinit", t.TempDir())
	if errors.Is(err, errNoGoTool) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Without its root and mode arguments the init reports a setup failure
	// (exit status 125) as soon as it runs.
	cmd := exec.Command(exe, sandbox.InitArg)
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 125 {
		t.Fatalf("init exited with %d (%v), want 125 (setup failed)\n%s", code, err, out)
	}
	var initialized []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "init" && strings.HasPrefix(f[2], "@") {
			initialized = append(initialized, f[1])
		}
	}
	if !slices.Contains(initialized, "os") {
		t.Fatalf("no inittrace line for package os; GODEBUG=inittrace=1 had no effect?\n%s", out)
	}
	for _, p := range initialized {
		for _, heavy := range heavyInitPrefixes {
			if strings.HasPrefix(p, heavy) {
				t.Errorf("package %s was initialized before the sandbox init ran", p)
			}
		}
	}
}
