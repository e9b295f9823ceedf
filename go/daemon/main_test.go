//go:build linux

package daemon_test

import (
	"os"
	"testing"

	"github.com/actiond/actiond/go/sandbox"
)

// The sandbox re-executes the test binary as each action's first process.
func TestMain(m *testing.M) {
	sandbox.MaybeRunInit()
	os.Exit(m.Run())
}
