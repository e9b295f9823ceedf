//go:build linux

package executor_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/actiond/actiond/go/sandbox"
)

func TestMain(m *testing.M) {
	// The test binary is also the sandbox init of the integration tests.
	sandbox.MaybeRunInit()
	code := m.Run()
	if toolPath != "" {
		os.RemoveAll(filepath.Dir(toolPath))
	}
	os.Exit(code)
}
