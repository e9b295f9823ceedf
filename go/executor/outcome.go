package executor

import (
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"

	"github.com/actiond/actiond/go/sandbox"
)

// outcome is what a run produced, for its response: the result (nil when
// the command did not run to its end), the sandbox's timings and the first
// error.
type outcome struct {
	res     *repb.ActionResult
	timings sandbox.Timings
	err     error
	// note tells the client about a run that completed but ran into a
	// limit (ExecuteResponse.message).
	note string
}

// fail records err unless an earlier error did: the first error wins.
func (o *outcome) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}
