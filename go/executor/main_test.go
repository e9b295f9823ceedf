package executor_test

import (
	"os"
	"testing"

	"github.com/actiond/actiond/go/sandbox"
)

func TestMain(m *testing.M) {
	// The test binary is also the sandbox init of the integration tests.
	sandbox.MaybeRunInit()
	os.Exit(m.Run())
}
