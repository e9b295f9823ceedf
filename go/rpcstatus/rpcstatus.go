// Package rpcstatus wraps errors with context while keeping their gRPC code.
//
// grpc-go's status.Code sees through %w, but then the message repeats
// "rpc error: code = ...". These helpers build a fresh status whose message is
// "context: cause message" and whose code (and details) are the cause's.
// MissingBlobs builds the one error with details that REAPI specifies.
package rpcstatus

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Newf returns a status error with the given code and formatted message.
func Newf(code codes.Code, format string, args ...any) error {
	return status.Errorf(code, format, args...)
}

// Wrapf prefixes err's message with the formatted context and keeps err's
// gRPC code and details. An error with no gRPC code becomes INTERNAL, unless it
// is a context error, which maps to CANCELLED or DEADLINE_EXCEEDED.
func Wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return wrap(err, Code(err), fmt.Sprintf(format, args...))
}

// WrapWithCode is Wrapf with the code replaced.
func WrapWithCode(err error, code codes.Code, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return wrap(err, code, fmt.Sprintf(format, args...))
}

func wrap(err error, code codes.Code, prefix string) error {
	msg := Message(err)
	st := status.New(code, prefix+": "+msg)
	if s, ok := status.FromError(err); ok && len(s.Proto().GetDetails()) > 0 {
		p := st.Proto()
		p.Details = s.Proto().GetDetails()
		return status.FromProto(p).Err()
	}
	return st.Err()
}

// Code returns err's gRPC code, looking through wrapping, and mapping context
// errors and plain errors as Wrapf documents.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		return gs.GRPCStatus().Code()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	return codes.Internal
}

// Message returns err's message without grpc-go's "rpc error: code = ..." prefix.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) && errors.Unwrap(err) == nil {
		return gs.GRPCStatus().Message()
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown && errors.Unwrap(err) == nil {
		return s.Message()
	}
	return err.Error()
}

// FromContext converts a done context's error into a status error.
func FromContext(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	return status.Error(Code(err), err.Error())
}
