package execroot_test

import (
	"os"
	"testing"

	"github.com/actiond/actiond/go/sandbox"
)

// TestMain lets the test binary serve as the sandbox's init, for the test
// that runs an action in the real sandbox.
func TestMain(m *testing.M) {
	sandbox.MaybeRunInit()
	os.Exit(m.Run())
}
