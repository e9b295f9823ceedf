package metrics

import (
	"context"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
)

// BenchmarkUnaryInterceptor is the cost the metrics add to each unary call
// (a FindMissingBlobs, whose request the interceptor does not inspect).
func BenchmarkUnaryInterceptor(b *testing.B) {
	m := New(nil)
	info := &grpc.UnaryServerInfo{FullMethod: "/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs"}
	req := &repb.FindMissingBlobsRequest{}
	handler := func(context.Context, any) (any, error) { return &repb.FindMissingBlobsResponse{}, nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.unary(ctx, req, info, handler); err != nil {
			b.Fatal(err)
		}
	}
}
