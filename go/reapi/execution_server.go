package reapi

import (
	"context"
	"log/slog"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/rpcstatus"
)

// ExecutionServer is the REAPI Execution service over an executor.Executor.
// It only turns executor operations into streams: naming, deduplication,
// caching and cancellation live in the executor.
type ExecutionServer struct {
	repb.UnimplementedExecutionServer
	exec *executor.Executor
	log  *slog.Logger
}

var _ repb.ExecutionServer = (*ExecutionServer)(nil)

// NewExecutionServer returns the Execution service for exec. A nil logger
// discards.
func NewExecutionServer(exec *executor.Executor, logger *slog.Logger) *ExecutionServer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ExecutionServer{exec: exec, log: logger}
}

// Register registers the Execution service on r.
func (s *ExecutionServer) Register(r grpc.ServiceRegistrar) {
	repb.RegisterExecutionServer(r, s)
}

// Execute streams the operation for req: its current stage first (QUEUED,
// or COMPLETED for a cache hit), then every change until it is done.
// Ending the call (client cancel or a broken connection) stops waiting; the
// executor kills the action if no other caller waits on it.
func (s *ExecutionServer) Execute(req *repb.ExecuteRequest, stream grpc.ServerStreamingServer[longrunningpb.Operation]) error {
	op, err := s.exec.Execute(stream.Context(), req)
	if err != nil {
		return err
	}
	return streamOperation(stream.Context(), op, stream.Send)
}

// WaitExecution reattaches to a running or recently finished operation;
// NOT_FOUND tells the client to call Execute again.
func (s *ExecutionServer) WaitExecution(req *repb.WaitExecutionRequest, stream grpc.ServerStreamingServer[longrunningpb.Operation]) error {
	op, err := s.exec.Wait(stream.Context(), req.GetName())
	if err != nil {
		return err
	}
	return streamOperation(stream.Context(), op, stream.Send)
}

// streamOperation sends op's state whenever it changes, ending after the
// done one (REAPI: COMPLETED iff done, and then the stream terminates).
func streamOperation(ctx context.Context, op *executor.Operation, send func(*longrunningpb.Operation) error) error {
	var last *longrunningpb.Operation
	for {
		cur, changed := op.Next()
		if last == nil || !proto.Equal(cur, last) {
			if err := send(cur); err != nil {
				return err
			}
			last = cur
		}
		if cur.GetDone() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return rpcstatus.FromContext(ctx)
		}
	}
}
