// Command heavyinit links what the daemon links and a sandbox init never
// needs (gRPC, the REAPI protobuf registries and, through package sandbox,
// log/slog) for TestInitStartsBeforeHeavyPackages, which runs it as a
// sandbox init. It is separate from the test binary so that the
// benchmarks' inits stay as light as the daemon's.
package main

import (
	_ "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	_ "google.golang.org/grpc"

	"github.com/actiond/actiond/go/sandbox"
)

func main() {
	sandbox.MaybeRunInit()
}
