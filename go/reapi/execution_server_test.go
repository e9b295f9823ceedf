package reapi_test

import (
	"context"
	"net"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/executor/executortest"
	"github.com/actiond/actiond/go/reapi"
	"github.com/actiond/actiond/go/sandbox"
)

// execEnv is an Execution service over fakes, served on 127.0.0.1:0.
type execEnv struct {
	store  *executortest.Store
	runner *executortest.Runner
	client repb.ExecutionClient
	ops    longrunningpb.OperationsClient
}

func newExecEnv(t *testing.T) *execEnv {
	t.Helper()
	return newExecEnvGrace(t, 5*time.Second)
}

func newExecEnvGrace(t *testing.T, grace time.Duration) *execEnv {
	t.Helper()
	e := &execEnv{store: executortest.NewStore(), runner: &executortest.Runner{}}
	ex, err := executor.New(executor.Options{
		Store:       e.store,
		Cache:       executortest.NewActionCache(),
		Roots:       &executortest.Roots{},
		Runner:      e.runner,
		Jobs:        2,
		CancelGrace: grace,
	})
	if err != nil {
		t.Fatalf("executor.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	reapi.NewExecutionServer(ex, nil).Register(srv)
	reapi.NewOperationsServer(ex).Register(srv)
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		ex.Close()
	})
	e.client = repb.NewExecutionClient(conn)
	e.ops = longrunningpb.NewOperationsClient(conn)
	return e
}

func (e *execEnv) action(t *testing.T, args ...string) *repb.Digest {
	t.Helper()
	return e.store.AddMessage(&repb.Action{
		CommandDigest:   e.store.AddMessage(&repb.Command{Arguments: args}).Proto(),
		InputRootDigest: e.store.AddMessage(&repb.Directory{}).Proto(),
	}).Proto()
}

// start calls Execute for the action ad and returns the stream and its
// first operation.
func (e *execEnv) start(ctx context.Context, t *testing.T, ad *repb.Digest) (repb.Execution_ExecuteClient, *longrunningpb.Operation) {
	t.Helper()
	stream, err := e.client.Execute(ctx, &repb.ExecuteRequest{ActionDigest: ad})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return stream, first
}

// receiveAll reads a stream to its end and returns the operations.
func receiveAll(t *testing.T, stream grpc.ServerStreamingClient[longrunningpb.Operation]) []*longrunningpb.Operation {
	t.Helper()
	ops, err := drain(stream, nil)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return ops
}

// finalResponse fails the test unless ops end with a done operation, and
// returns that operation's ExecuteResponse.
func finalResponse(t *testing.T, ops []*longrunningpb.Operation) *repb.ExecuteResponse {
	t.Helper()
	if len(ops) == 0 || !ops[len(ops)-1].GetDone() {
		t.Fatalf("stream ended without a done operation: %v", ops)
	}
	return opResponse(t, ops[len(ops)-1])
}

func opStage(t *testing.T, op *longrunningpb.Operation) repb.ExecutionStage_Value {
	t.Helper()
	md := &repb.ExecuteOperationMetadata{}
	if err := op.GetMetadata().UnmarshalTo(md); err != nil {
		t.Fatalf("metadata: %v", err)
	}
	return md.GetStage()
}

func opResponse(t *testing.T, op *longrunningpb.Operation) *repb.ExecuteResponse {
	t.Helper()
	resp := &repb.ExecuteResponse{}
	if err := op.GetResponse().UnmarshalTo(resp); err != nil {
		t.Fatalf("operation %s has no ExecuteResponse: %v", op.GetName(), err)
	}
	return resp
}

func TestExecuteStreamsStages(t *testing.T) {
	e := newExecEnv(t)
	release := make(chan struct{})
	e.runner.Func = executortest.BlockUntil(release)
	ad := e.action(t, "/bin/true")

	stream, first := e.start(t.Context(), t, ad)
	<-e.runner.Started()
	close(release)
	ops := append([]*longrunningpb.Operation{first}, receiveAll(t, stream)...)

	var stages []repb.ExecutionStage_Value
	for i, op := range ops {
		stages = append(stages, opStage(t, op))
		if op.GetName() != first.GetName() {
			t.Errorf("operation %d is named %q, want %q throughout", i, op.GetName(), first.GetName())
		}
		if got := op.GetDone(); got != (i == len(ops)-1) {
			t.Errorf("operation %d: done = %v, want done only on the last", i, got)
		}
		md := &repb.ExecuteOperationMetadata{}
		op.GetMetadata().UnmarshalTo(md)
		if md.GetActionDigest().GetHash() != ad.GetHash() {
			t.Errorf("operation %d: action digest %v, want %v", i, md.GetActionDigest(), ad)
		}
	}
	if stages[0] != repb.ExecutionStage_QUEUED || stages[len(stages)-1] != repb.ExecutionStage_COMPLETED {
		t.Errorf("stages = %v, want QUEUED first and COMPLETED last", stages)
	}
	resp := opResponse(t, ops[len(ops)-1])
	if resp.GetStatus().GetCode() != 0 || resp.GetResult().GetStdoutDigest() == nil || resp.GetCachedResult() {
		t.Errorf("response = %v, want OK with stdout, not cached", resp)
	}

	// The same action again is answered from the action cache at once.
	again, err := e.client.Execute(t.Context(), &repb.ExecuteRequest{ActionDigest: ad})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	cachedOps := receiveAll(t, again)
	if len(cachedOps) != 1 || !cachedOps[0].GetDone() || !opResponse(t, cachedOps[0]).GetCachedResult() {
		t.Errorf("second Execute = %v, want one done operation with cached_result", cachedOps)
	}
}

func TestWaitExecutionAfterDroppedStream(t *testing.T) {
	e := newExecEnv(t)
	release := make(chan struct{})
	e.runner.Func = executortest.BlockUntil(release)
	ctx, cancel := context.WithCancel(t.Context())
	_, first := e.start(ctx, t, e.action(t, "/bin/true"))
	<-e.runner.Started()
	cancel()

	wait, err := e.client.WaitExecution(t.Context(), &repb.WaitExecutionRequest{Name: first.GetName()})
	if err != nil {
		t.Fatalf("WaitExecution: %v", err)
	}
	current, err := wait.Recv()
	if err != nil {
		t.Fatalf("WaitExecution Recv: %v", err)
	}
	if got := opStage(t, current); got != repb.ExecutionStage_EXECUTING {
		t.Errorf("first WaitExecution update has stage %v, want EXECUTING", got)
	}
	close(release)
	if code := finalResponse(t, receiveAll(t, wait)).GetStatus().GetCode(); code != 0 {
		t.Errorf("status = %v, want OK: the action must survive the dropped stream", codes.Code(code))
	}
}

func TestExecutionErrors(t *testing.T) {
	e := newExecEnv(t)
	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{name: "WaitExecution of an unknown operation", want: codes.NotFound, call: func() error {
			_, err := drain(e.client.WaitExecution(t.Context(), &repb.WaitExecutionRequest{Name: "operations/nope"}))
			return err
		}},
		{name: "Execute with a malformed digest", want: codes.InvalidArgument, call: func() error {
			_, err := drain(e.client.Execute(t.Context(), &repb.ExecuteRequest{ActionDigest: &repb.Digest{Hash: "xyz"}}))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(tc.call()); got != tc.want {
				t.Errorf("code = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCancelledExecuteKillsTheAction(t *testing.T) {
	e := newExecEnvGrace(t, 10*time.Millisecond)
	killed := make(chan error, 1)
	e.runner.Func = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
		<-ctx.Done()
		killed <- context.Cause(ctx)
		return sandbox.Result{}, ctx.Err()
	}
	ctx, cancel := context.WithCancel(t.Context())
	_, first := e.start(ctx, t, e.action(t, "/bin/sleep", "60"))
	<-e.runner.Started()
	cancel()
	select {
	case cause := <-killed:
		if status.Code(cause) != codes.Canceled {
			t.Errorf("kill cause = %v, want CANCELLED", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("action still running 10s after its only client cancelled")
	}
	// The operation is kept and reports the cancellation.
	wait, err := e.client.WaitExecution(t.Context(), &repb.WaitExecutionRequest{Name: first.GetName()})
	if err != nil {
		t.Fatalf("WaitExecution: %v", err)
	}
	if code := codes.Code(finalResponse(t, receiveAll(t, wait)).GetStatus().GetCode()); code != codes.Canceled {
		t.Errorf("status = %v, want CANCELLED", code)
	}
}
