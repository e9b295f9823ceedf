package reapitest_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/daemon"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi/reapitest"
)

// serve starts a daemon without execution on a loopback port.
func serve(t *testing.T) *grpc.ClientConn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, daemon.Config{Root: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		t.Fatalf("daemon.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		<-served
	})
	return conn
}

func TestBlobsRoundTrip(t *testing.T) {
	conn := serve(t)
	small := []byte("uploaded in a batch")
	reapitest.Upload(t.Context(), t, conn, small)
	if got := reapitest.ReadBlob(t, conn, digest.OfBytes(small).Proto()); got != string(small) {
		t.Errorf("ReadBlob after Upload = %q, want %q", got, small)
	}

	// Larger than gRPC's flow-control windows, so the second write of
	// the same blob meets a server that has it and ends the stream while
	// the client is still sending.
	large := bytes.Repeat([]byte("0123456789abcdef"), (32<<20)/16)
	cas := repb.NewContentAddressableStorageClient(conn)
	for i := range 2 {
		reapitest.WriteBlob(t.Context(), t, conn, large)
		missing, err := cas.FindMissingBlobs(t.Context(), &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{digest.OfBytes(large).Proto()}})
		if err != nil || len(missing.GetMissingBlobDigests()) != 0 {
			t.Fatalf("FindMissingBlobs after WriteBlob %d = %v, %v; want none missing", i+1, missing, err)
		}
	}

	if got := reapitest.ReadBlob(t, conn, nil); got != "" {
		t.Errorf("ReadBlob(nil) = %q, want empty", got)
	}
}

func TestMarshal(t *testing.T) {
	dir := &repb.Directory{Files: []*repb.FileNode{{Name: "a", Digest: digest.OfBytes([]byte("a")).Proto()}}}
	b, d := reapitest.Marshal(t, dir)
	if want := digest.OfBytes(b); d != want {
		t.Errorf("Marshal digest = %v, want the digest of the bytes %v", d, want)
	}
	back := &repb.Directory{}
	if err := proto.Unmarshal(b, back); err != nil || !proto.Equal(back, dir) {
		t.Errorf("Marshal bytes unmarshal to %v, %v; want %v", back, err, dir)
	}
}
