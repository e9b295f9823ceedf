package reapi

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RecoveryInterceptor turns a panic in a handler into an INTERNAL error for
// that call, logged with its stack. grpc-go does not recover handler panics,
// so without it one bad request (say, a nil field some code path forgot)
// would take down the daemon and every build using it.
type RecoveryInterceptor struct {
	logger *slog.Logger
}

// NewRecoveryInterceptor returns an interceptor logging to logger.
func NewRecoveryInterceptor(logger *slog.Logger) *RecoveryInterceptor {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &RecoveryInterceptor{logger: logger}
}

// ServerOptions returns the unary and stream interceptors as server options.
func (r *RecoveryInterceptor) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(r.Unary),
		grpc.ChainStreamInterceptor(r.Stream),
	}
}

// Unary is a grpc.UnaryServerInterceptor.
func (r *RecoveryInterceptor) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer r.recover(ctx, info.FullMethod, &err)
	return handler(ctx, req)
}

// Stream is a grpc.StreamServerInterceptor.
func (r *RecoveryInterceptor) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer r.recover(ss.Context(), info.FullMethod, &err)
	return handler(srv, ss)
}

func (r *RecoveryInterceptor) recover(ctx context.Context, method string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	stack := debug.Stack()
	if rp, ok := p.(repanicked); ok {
		p, stack = rp.value, rp.stack
	}
	r.logger.ErrorContext(ctx, "panic in RPC handler",
		slog.String("method", method),
		slog.String("panic", fmt.Sprint(p)),
		slog.String("stack", string(stack)))
	*err = status.Errorf(codes.Internal, "%s: internal error (panic: %v); the server logged the details", method, p)
}

// repanicked carries a panic from a helper goroutine to the handler's
// goroutine, with the stack where it happened.
type repanicked struct {
	value any
	stack []byte
}
