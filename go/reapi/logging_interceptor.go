package reapi

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/actiond/actiond/go/rpcstatus"
)

// LoggingInterceptor logs every RPC at debug level: method, duration and
// resulting code, plus the message of a failed call. It logs nothing unless
// the logger is enabled for debug, so it costs next to nothing when off.
type LoggingInterceptor struct {
	logger *slog.Logger
}

// NewLoggingInterceptor returns an interceptor logging to logger.
func NewLoggingInterceptor(logger *slog.Logger) *LoggingInterceptor {
	return &LoggingInterceptor{logger: logger}
}

// ServerOptions returns the unary and stream interceptors as server options.
func (l *LoggingInterceptor) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(l.Unary),
		grpc.ChainStreamInterceptor(l.Stream),
	}
}

// Unary is a grpc.UnaryServerInterceptor.
func (l *LoggingInterceptor) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !l.logger.Enabled(ctx, slog.LevelDebug) {
		return handler(ctx, req)
	}
	start := time.Now()
	resp, err := handler(ctx, req)
	l.log(ctx, info.FullMethod, start, err)
	return resp, err
}

// Stream is a grpc.StreamServerInterceptor.
func (l *LoggingInterceptor) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	if !l.logger.Enabled(ctx, slog.LevelDebug) {
		return handler(srv, ss)
	}
	start := time.Now()
	err := handler(srv, ss)
	l.log(ctx, info.FullMethod, start, err)
	return err
}

func (l *LoggingInterceptor) log(ctx context.Context, method string, start time.Time, err error) {
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.Duration("duration", time.Since(start)),
		slog.String("code", rpcstatus.Code(err).String()),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", rpcstatus.Message(err)))
	}
	l.logger.LogAttrs(ctx, slog.LevelDebug, "rpc", attrs...)
}
