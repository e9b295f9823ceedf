package metrics

import (
	"context"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ServerOptions returns interceptors that count every call and its blob
// bytes.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.unary),
		grpc.ChainStreamInterceptor(m.stream),
	}
}

func (m *Metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	code := status.Code(err)
	m.handled(info.FullMethod, code, start)
	switch r := req.(type) {
	case *repb.BatchUpdateBlobsRequest:
		var n int
		for _, b := range r.GetRequests() {
			n += len(b.GetData())
		}
		m.casBytes.WithLabelValues("upload").Add(float64(n))
	case *repb.GetActionResultRequest:
		if code == codes.OK || code == codes.NotFound {
			m.lookup("GetActionResult", code == codes.OK)
		}
	}
	if r, ok := resp.(*repb.BatchReadBlobsResponse); ok && err == nil {
		var n int
		for _, b := range r.GetResponses() {
			n += len(b.GetData())
		}
		m.casBytes.WithLabelValues("download").Add(float64(n))
	}
	return resp, err
}

func (m *Metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, &countingStream{ServerStream: ss, m: m})
	m.handled(info.FullMethod, status.Code(err), start)
	return err
}

func (m *Metrics) handled(method string, code codes.Code, start time.Time) {
	c := code.String() // "OK", "NotFound", …
	m.rpcHandled.WithLabelValues(method, c).Inc()
	m.rpcSeconds.WithLabelValues(method, c).Observe(time.Since(start).Seconds())
}

// countingStream counts the blob bytes of ByteStream messages.
type countingStream struct {
	grpc.ServerStream
	m *Metrics
}

func (s *countingStream) RecvMsg(msg any) error {
	err := s.ServerStream.RecvMsg(msg)
	if w, ok := msg.(*bspb.WriteRequest); ok && err == nil {
		s.m.casBytes.WithLabelValues("upload").Add(float64(len(w.GetData())))
	}
	return err
}

func (s *countingStream) SendMsg(msg any) error {
	if r, ok := msg.(*bspb.ReadResponse); ok {
		s.m.casBytes.WithLabelValues("download").Add(float64(len(r.GetData())))
	}
	return s.ServerStream.SendMsg(msg)
}
