package rpcstatus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/actiond/actiond/go/rpcstatus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestWrapf(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		wantMsg  string
	}{
		{"status", status.Error(codes.NotFound, "blob abc-1 not found"), codes.NotFound, "reading input: blob abc-1 not found"},
		{"plain", errors.New("disk on fire"), codes.Internal, "reading input: disk on fire"},
		{"canceled", context.Canceled, codes.Canceled, "reading input: context canceled"},
		{"deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "reading input: wait: context deadline exceeded"},
		{"nested", rpcstatus.Wrapf(rpcstatus.Newf(codes.InvalidArgument, "bad name"), "dir x"), codes.InvalidArgument, "reading input: dir x: bad name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rpcstatus.Wrapf(tc.err, "reading input")
			s, _ := status.FromError(got)
			if s.Code() != tc.wantCode || s.Message() != tc.wantMsg {
				t.Errorf("Wrapf() = %v %q, want %v %q", s.Code(), s.Message(), tc.wantCode, tc.wantMsg)
			}
		})
	}
	if rpcstatus.Wrapf(nil, "x") != nil {
		t.Error("Wrapf(nil) != nil")
	}
}

func TestWrapWithCode(t *testing.T) {
	err := rpcstatus.WrapWithCode(errors.New("no such file"), codes.FailedPrecondition, "input %s", "a/b")
	if got := status.Code(err); got != codes.FailedPrecondition {
		t.Errorf("code = %v, want FailedPrecondition", got)
	}
	if got := rpcstatus.Message(err); got != "input a/b: no such file" {
		t.Errorf("message = %q", got)
	}
}
