// Package reapitest holds the REAPI client steps that tests of the daemon
// and of its binaries repeat: marshal a message with its digest, upload
// blobs, write one through ByteStream, run an action to its final
// response and read a blob back. Every helper fails the test on any error.
package reapitest

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	longrunningpb "cloud.google.com/go/longrunning/autogen/longrunningpb"
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
)

// Marshal returns the wire form of m and its digest.
func Marshal(t testing.TB, m proto.Message) ([]byte, digest.Digest) {
	t.Helper()
	b, d, err := digest.OfMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, d
}

// Upload stores blobs with one BatchUpdateBlobs call and fails the test
// unless every blob is stored.
func Upload(ctx context.Context, t testing.TB, conn grpc.ClientConnInterface, blobs ...[]byte) {
	t.Helper()
	var reqs []*repb.BatchUpdateBlobsRequest_Request
	for _, b := range blobs {
		reqs = append(reqs, &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes(b).Proto(), Data: b})
	}
	resp, err := repb.NewContentAddressableStorageClient(conn).BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: reqs})
	if err != nil {
		t.Fatalf("BatchUpdateBlobs: %v", err)
	}
	for _, r := range resp.GetResponses() {
		if r.GetStatus().GetCode() != 0 {
			t.Fatalf("uploading %v: %v", r.GetDigest(), r.GetStatus())
		}
	}
}

// WriteBlob stores data through ByteStream.Write in chunks of 1 MiB, as
// Bazel does for blobs above the batch limit, and fails the test unless
// the whole blob is committed.
func WriteBlob(ctx context.Context, t testing.TB, conn grpc.ClientConnInterface, data []byte) {
	t.Helper()
	if err := Write(ctx, conn, data); err != nil {
		t.Fatal(err)
	}
}

// Write is WriteBlob returning the call's error, for tests of refusals. A
// server that has the blob already may end the stream early (Send returns
// io.EOF), as the REAPI allows; either way the committed size must be the
// blob's size.
func Write(ctx context.Context, conn grpc.ClientConnInterface, data []byte) error {
	d := digest.OfBytes(data)
	stream, err := bytestream.NewByteStreamClient(conn).Write(ctx)
	if err != nil {
		return err
	}
	resource := fmt.Sprintf("uploads/reapitest-%d/blobs/%s/%d", time.Now().UnixNano(), d.Hash, d.Size)
	const chunk = 1 << 20
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		req := &bytestream.WriteRequest{WriteOffset: int64(off), Data: data[off:end], FinishWrite: end == len(data)}
		if off == 0 {
			req.ResourceName = resource
		}
		if err := stream.Send(req); err == io.EOF {
			// The server answered early; CloseAndRecv returns its response.
			break
		} else if err != nil {
			return fmt.Errorf("ByteStream.Write: %w", err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("ByteStream.Write: %w", err)
	}
	if resp.GetCommittedSize() != d.Size {
		return fmt.Errorf("ByteStream.Write: committed %d of %d bytes", resp.GetCommittedSize(), d.Size)
	}
	return nil
}

// Execute uploads blobs (see Upload), runs the action with the cache
// lookup skipped, reads the operation stream to its end and returns the
// final ExecuteResponse, whatever its status.
func Execute(ctx context.Context, t testing.TB, conn grpc.ClientConnInterface, action digest.Digest, blobs ...[]byte) *repb.ExecuteResponse {
	t.Helper()
	if len(blobs) > 0 {
		Upload(ctx, t, conn, blobs...)
	}
	stream, err := repb.NewExecutionClient(conn).Execute(ctx, &repb.ExecuteRequest{ActionDigest: action.Proto(), SkipCacheLookup: true})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	var last *longrunningpb.Operation
	for {
		op, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Execute stream: %v", err)
		}
		last = op
	}
	if !last.GetDone() {
		t.Fatalf("last operation not done: %v", last)
	}
	resp := &repb.ExecuteResponse{}
	if err := last.GetResponse().UnmarshalTo(resp); err != nil {
		t.Fatalf("operation response: %v (operation %v)", err, last)
	}
	return resp
}

// ReadBlob returns the contents of the blob d with BatchReadBlobs, or ""
// for a nil or empty digest without asking the server.
func ReadBlob(t testing.TB, conn grpc.ClientConnInterface, d *repb.Digest) string {
	t.Helper()
	if d.GetSizeBytes() == 0 {
		return ""
	}
	resp, err := repb.NewContentAddressableStorageClient(conn).BatchReadBlobs(t.Context(), &repb.BatchReadBlobsRequest{Digests: []*repb.Digest{d}})
	if err != nil || resp.GetResponses()[0].GetStatus().GetCode() != 0 {
		t.Fatalf("BatchReadBlobs(%v) = %v, %v", d, resp, err)
	}
	return string(resp.GetResponses()[0].GetData())
}
