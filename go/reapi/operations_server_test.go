package reapi_test

import (
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/actiond/actiond/go/executor/executortest"
)

// TestOperations covers google.longrunning.Operations over a running
// action: GetOperation sees it executing, WaitOperation returns at its
// timeout while it runs, CancelOperation kills it for the Execute caller
// too (CANCELLED), and unknown names are NOT_FOUND.
func TestOperations(t *testing.T) {
	e := newExecEnv(t)
	release := make(chan struct{})
	defer close(release)
	e.runner.Func = executortest.BlockUntil(release)
	stream, first := e.start(t.Context(), t, e.action(t, "/bin/sleep", "forever"))
	name := first.GetName()
	<-e.runner.Started()

	got, err := e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: name})
	if err != nil || got.GetDone() || opStage(t, got) != repb.ExecutionStage_EXECUTING {
		t.Fatalf("GetOperation = %v, %v; want it executing", got, err)
	}
	start := time.Now()
	got, err = e.ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(100 * time.Millisecond)})
	if err != nil || got.GetDone() {
		t.Fatalf("WaitOperation(100ms) = %v, %v; want the running operation", got, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("WaitOperation returned after %v, before its timeout", d)
	}

	if _, err := e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: name}); err != nil {
		t.Fatalf("CancelOperation: %v", err)
	}
	ops := receiveAll(t, stream)
	last := ops[len(ops)-1]
	if !last.GetDone() || codes.Code(opResponse(t, last).GetStatus().GetCode()) != codes.Canceled {
		t.Fatalf("Execute stream ended with %v; want done and CANCELLED", last)
	}
	got, err = e.ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: name})
	if err != nil || !got.GetDone() || codes.Code(opResponse(t, got).GetStatus().GetCode()) != codes.Canceled {
		t.Fatalf("WaitOperation after cancel = %v, %v; want done and CANCELLED", got, err)
	}
	// Cancelling a finished operation changes nothing.
	if _, err := e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: name}); err != nil {
		t.Errorf("CancelOperation of a finished operation = %v, want nil", err)
	}

	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"GetOperation unknown", func() error {
			_, err := e.ops.GetOperation(t.Context(), &longrunningpb.GetOperationRequest{Name: "operations/nope"})
			return err
		}, codes.NotFound},
		{"CancelOperation unknown", func() error {
			_, err := e.ops.CancelOperation(t.Context(), &longrunningpb.CancelOperationRequest{Name: "operations/nope"})
			return err
		}, codes.NotFound},
		{"WaitOperation negative timeout", func() error {
			_, err := e.ops.WaitOperation(t.Context(), &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(-time.Second)})
			return err
		}, codes.InvalidArgument},
		{"ListOperations", func() error {
			_, err := e.ops.ListOperations(t.Context(), &longrunningpb.ListOperationsRequest{})
			return err
		}, codes.Unimplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(tc.call()); got != tc.want {
				t.Errorf("code = %v, want %v", got, tc.want)
			}
		})
	}
}
