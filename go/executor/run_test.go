package executor

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/rpcstatus"
	"github.com/actiond/actiond/go/sandbox"
)

func TestResultOf(t *testing.T) {
	spec := sandbox.Spec{Timeout: 3 * time.Second, MaxOutputBytes: 100}
	for _, tc := range []struct {
		name     string
		result   sandbox.Result
		wantExit int32
		wantCode codes.Code
		wantMsg  string
	}{
		{name: "success", result: sandbox.Result{}},
		{name: "non-zero exit is no error", result: sandbox.Result{ExitCode: 3}, wantExit: 3},
		{name: "signal is 128+N", result: sandbox.Result{ExitCode: -1, Signal: syscall.SIGTERM}, wantExit: 143},
		{name: "timeout", result: sandbox.Result{TimedOut: true, Signal: syscall.SIGKILL}, wantExit: 137, wantCode: codes.DeadlineExceeded, wantMsg: "timed out after 3s"},
		{name: "too much output", result: sandbox.Result{OutputTooLarge: true, Signal: syscall.SIGKILL}, wantExit: 137, wantCode: codes.ResourceExhausted, wantMsg: "more than 100 bytes"},
		{name: "timeout wins over too much output", result: sandbox.Result{TimedOut: true, OutputTooLarge: true, Signal: syscall.SIGKILL}, wantExit: 137, wantCode: codes.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := resultOf(tc.result, spec)
			if res.GetExitCode() != tc.wantExit {
				t.Errorf("exit code = %d, want %d", res.GetExitCode(), tc.wantExit)
			}
			if got := status.Code(err); got != tc.wantCode {
				t.Errorf("error = %v, want code %v", err, tc.wantCode)
			}
			if !strings.Contains(rpcstatus.Message(err), tc.wantMsg) {
				t.Errorf("message %q does not contain %q", rpcstatus.Message(err), tc.wantMsg)
			}
		})
	}
}

// preconditionFailure is a FAILED_PRECONDITION error with one detail.
func preconditionFailure(t *testing.T) error {
	t.Helper()
	st, err := status.New(codes.FailedPrecondition, "blob not in the CAS").WithDetails(&errdetails.PreconditionFailure{
		Violations: []*errdetails.PreconditionFailure_Violation{{Type: "MISSING", Subject: "blobs/x/1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestSandboxError(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		want        codes.Code
		wantDetails int
	}{
		{name: "plain error is INTERNAL", err: errors.New("clone: operation not permitted"), want: codes.Internal},
		{name: "UNKNOWN is INTERNAL", err: status.Error(codes.Unknown, "what"), want: codes.Internal},
		{name: "cancellation keeps its code", err: rpcstatus.Newf(codes.Canceled, "killed"), want: codes.Canceled},
		{name: "context error", err: context.Canceled, want: codes.Canceled},
		{name: "details are kept", err: preconditionFailure(t), want: codes.FailedPrecondition, wantDetails: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sandboxError(tc.err)
			st := status.Convert(err)
			if st.Code() != tc.want {
				t.Errorf("code = %v, want %v", st.Code(), tc.want)
			}
			if !strings.HasPrefix(st.Message(), "running the action: ") {
				t.Errorf("message %q does not say what failed", st.Message())
			}
			if got := len(st.Details()); got != tc.wantDetails {
				t.Errorf("details = %d, want %d", got, tc.wantDetails)
			}
		})
	}
}

func TestReportedError(t *testing.T) {
	live := context.Background()
	withCause := func(cause error) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		return ctx
	}
	errKilled := rpcstatus.Newf(codes.Canceled, "sandbox: action killed")
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want error
	}{
		{name: "live context keeps the error", ctx: live, err: errKilled, want: errKilled},
		{name: "success stays success", ctx: live, want: nil},
		{name: "our cancellation is the cause", ctx: withCause(errCancelled), err: errKilled, want: errCancelled},
		{name: "shutdown is the cause", ctx: withCause(errShutdown), err: errKilled, want: errShutdown},
		{name: "cancelled after success", ctx: withCause(errNoWaiters), want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := reportedError(tc.ctx, tc.err); got != tc.want {
				t.Errorf("reportedError = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCacheable(t *testing.T) {
	ok := func() *repb.ExecuteResponse { return &repb.ExecuteResponse{Result: &repb.ActionResult{}} }
	for _, tc := range []struct {
		name   string
		action *repb.Action
		resp   *repb.ExecuteResponse
		want   bool
	}{
		{name: "success", action: &repb.Action{}, resp: ok(), want: true},
		{name: "non-zero exit", action: &repb.Action{}, resp: &repb.ExecuteResponse{Result: &repb.ActionResult{ExitCode: 1}}},
		{name: "non-OK status", action: &repb.Action{}, resp: errorResponse(rpcstatus.Newf(codes.DeadlineExceeded, "timed out"), &repb.ActionResult{})},
		{name: "no result", action: &repb.Action{}, resp: &repb.ExecuteResponse{}},
		{name: "do_not_cache", action: &repb.Action{DoNotCache: true}, resp: ok()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cacheable(tc.action, tc.resp); got != tc.want {
				t.Errorf("cacheable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestErrorResponse(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		wantCode    codes.Code
		wantMsg     string
		wantDetails int
	}{
		{name: "success has no status"},
		{name: "status error", err: rpcstatus.Newf(codes.InvalidArgument, "bad"), wantCode: codes.InvalidArgument, wantMsg: "bad"},
		{name: "details are kept", err: preconditionFailure(t), wantCode: codes.FailedPrecondition, wantMsg: "not in the CAS", wantDetails: 1},
		{name: "plain error is INTERNAL", err: errors.New("disk on fire"), wantCode: codes.Internal, wantMsg: "disk on fire"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &repb.ActionResult{ExitCode: 5}
			resp := errorResponse(tc.err, res)
			if resp.GetResult() != res {
				t.Error("the result is not kept")
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tc.wantCode {
				t.Errorf("code = %v, want %v", got, tc.wantCode)
			}
			if !strings.Contains(resp.GetStatus().GetMessage(), tc.wantMsg) || resp.GetMessage() != resp.GetStatus().GetMessage() {
				t.Errorf("status message %q, message %q; want both to contain %q", resp.GetStatus().GetMessage(), resp.GetMessage(), tc.wantMsg)
			}
			if got := len(resp.GetStatus().GetDetails()); got != tc.wantDetails {
				t.Errorf("details = %d, want %d", got, tc.wantDetails)
			}
		})
	}
}
