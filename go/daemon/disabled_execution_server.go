package daemon

import (
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
)

// disabledExecutionServer answers the Execution service of a cache-only
// daemon, so that a client pointed at it by mistake reads why rather than
// gRPC's "unknown service".
type disabledExecutionServer struct {
	repb.UnimplementedExecutionServer
}

func (disabledExecutionServer) refuse() error {
	return rpcstatus.Newf(codes.Unimplemented, "remote execution is disabled: this actiond serves the remote cache only (started with --no-execution)")
}

func (s disabledExecutionServer) Execute(*repb.ExecuteRequest, repb.Execution_ExecuteServer) error {
	return s.refuse()
}

func (s disabledExecutionServer) WaitExecution(*repb.WaitExecutionRequest, repb.Execution_WaitExecutionServer) error {
	return s.refuse()
}
