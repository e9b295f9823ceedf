package reapi_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/executor/executortest"
	"github.com/actiond/actiond/go/reapi"
)

func TestLoggingInterceptor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level slog.Level
		want  []string
	}{
		{"debug", slog.LevelDebug, []string{
			"method=/build.bazel.remote.execution.v2.Capabilities/GetCapabilities duration=",
			"code=OK",
			"method=/google.bytestream.ByteStream/Read",
			"code=NotFound",
			"error=",
		}},
		{"info", slog.LevelInfo, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var buf executortest.SyncBuffer
			logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
			store, err := cas.Open(ctx, cas.Options{Root: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			srv, err := reapi.NewServer(reapi.Options{Store: store, ActionCache: executortest.NewActionCache()})
			if err != nil {
				t.Fatal(err)
			}
			gs := grpc.NewServer(reapi.ServerOptions(reapi.Options{Logger: logger, LogRPCs: true})...)
			reapi.Register(gs, srv)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go gs.Serve(lis)
			conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close(); gs.Stop(); srv.Close() })

			if _, err := repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{}); err != nil {
				t.Fatalf("GetCapabilities: %v", err)
			}
			stream, err := bspb.NewByteStreamClient(conn).Read(ctx, &bspb.ReadRequest{ResourceName: "blobs/" + digest.OfBytes([]byte("x")).String()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err == nil {
				t.Fatal("Read of a missing blob succeeded")
			}
			gs.GracefulStop() // the stream handler has logged once it returns
			got := buf.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("log lacks %q:\n%s", w, got)
				}
			}
			if tc.want == nil && got != "" {
				t.Errorf("log at info level = %q, want nothing", got)
			}
		})
	}
}
