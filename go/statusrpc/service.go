package statusrpc

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/rpcstatus"
)

// Method names, as a client calls them.
const (
	serviceName    = "actiond.status.v1.Status"
	snapshotMethod = "/" + serviceName + "/Snapshot"
	metricsMethod  = "/" + serviceName + "/Metrics"
)

// Provider is what the service reports.
type Provider interface {
	Snapshot(ctx context.Context) (activity.Snapshot, error)
}

// service answers the Status methods from a Provider and a Gatherer.
type service struct {
	provider Provider
	gatherer prometheus.Gatherer
}

// Register adds the Status service to s, answering from p and g.
func Register(s *grpc.Server, p Provider, g prometheus.Gatherer) {
	s.RegisterService(&serviceDesc, &service{provider: p, gatherer: g})
}

func (s *service) snapshot(ctx context.Context) (*wrapperspb.BytesValue, error) {
	snap, err := s.provider.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return nil, rpcstatus.WrapWithCode(err, codes.Internal, "encoding the status snapshot")
	}
	return wrapperspb.Bytes(b), nil
}

func (s *service) metrics(context.Context) (*wrapperspb.BytesValue, error) {
	mfs, err := s.gatherer.Gather()
	if err != nil && len(mfs) == 0 {
		return nil, rpcstatus.WrapWithCode(err, codes.Internal, "gathering metrics")
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, rpcstatus.WrapWithCode(err, codes.Internal, "encoding metrics")
		}
	}
	return wrapperspb.Bytes(buf.Bytes()), nil
}

// serviceDesc is what protoc-gen-go-grpc would generate for
//
//	service Status {
//	  rpc Snapshot(google.protobuf.Empty) returns (google.protobuf.BytesValue);
//	  rpc Metrics(google.protobuf.Empty) returns (google.protobuf.BytesValue);
//	}
var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Snapshot", Handler: unaryHandler(snapshotMethod, (*service).snapshot)},
		{MethodName: "Metrics", Handler: unaryHandler(metricsMethod, (*service).metrics)},
	},
	Metadata: "actiond/status.proto",
}

// unaryHandler adapts a method taking no request to grpc's MethodDesc
// handler, running the server's interceptors.
func unaryHandler(fullMethod string, call func(*service, context.Context) (*wrapperspb.BytesValue, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		in := new(emptypb.Empty)
		if err := dec(in); err != nil {
			return nil, err
		}
		s := srv.(*service)
		if interceptor == nil {
			return call(s, ctx)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}
		return interceptor(ctx, in, info, func(ctx context.Context, _ any) (any, error) { return call(s, ctx) })
	}
}
