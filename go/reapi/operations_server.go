package reapi

import (
	"context"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/rpcstatus"
)

// OperationsServer is google.longrunning.Operations over the executor's
// operations (the names Execute returns): GetOperation, WaitOperation and
// CancelOperation. ListOperations and DeleteOperation are UNIMPLEMENTED:
// operations are kept only for a short while after they finish anyway.
type OperationsServer struct {
	longrunningpb.UnimplementedOperationsServer
	exec *executor.Executor
}

var _ longrunningpb.OperationsServer = (*OperationsServer)(nil)

// maxWaitOperation bounds WaitOperation when the request sets no timeout
// (or a longer one), so that a call always returns; the client calls again.
const maxWaitOperation = time.Minute

// NewOperationsServer returns the Operations service for exec.
func NewOperationsServer(exec *executor.Executor) *OperationsServer {
	return &OperationsServer{exec: exec}
}

// Register registers the Operations service on r.
func (s *OperationsServer) Register(r grpc.ServiceRegistrar) {
	longrunningpb.RegisterOperationsServer(r, s)
}

// GetOperation returns the operation's current state without waiting on it
// (the caller does not keep the action alive).
func (s *OperationsServer) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	op, err := s.exec.Lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	state, _ := op.State()
	return state, nil
}

// WaitOperation waits until the operation is done or the timeout (at most
// maxWaitOperation) passes, and returns its state then. Like WaitExecution,
// the caller counts as waiting on the action meanwhile.
func (s *OperationsServer) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	timeout := maxWaitOperation
	if t := req.GetTimeout(); t != nil {
		if err := t.CheckValid(); err != nil || t.AsDuration() < 0 {
			return nil, rpcstatus.Newf(codes.InvalidArgument, "timeout %v is not a valid non-negative duration", t)
		}
		timeout = min(timeout, t.AsDuration())
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	op, err := s.exec.Wait(waitCtx, req.GetName())
	if err != nil {
		return nil, err
	}
	for {
		state, changed := op.State()
		if state.GetDone() {
			return state, nil
		}
		select {
		case <-changed:
		case <-waitCtx.Done():
			if err := ctx.Err(); err != nil {
				return nil, rpcstatus.FromContext(ctx)
			}
			state, _ := op.State()
			return state, nil
		}
	}
}

// CancelOperation kills the operation if it is still queued or running; it
// then completes with CANCELLED for everyone waiting on it.
func (s *OperationsServer) CancelOperation(ctx context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	if err := s.exec.Cancel(req.GetName()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}
