package daemon_test

import (
	"context"
	"io"
	"maps"
	"slices"
	"testing"
	"time"

	longrunningpb "cloud.google.com/go/longrunning/autogen/longrunningpb"
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/actiond/actiond/go/digest"
)

// actionSpec describes an action for execute: files become executable
// entries of the input root, unless root is given explicitly.
type actionSpec struct {
	files map[string][]byte
	// root replaces the generated input root; blobs are uploaded with it.
	root  *repb.Directory
	blobs [][]byte
	// skipRootUpload leaves the input root Directory out of the CAS.
	skipRootUpload bool
	cmd            *repb.Command
	timeout        time.Duration
	// cacheable lets the result go to the action cache.
	cacheable bool
}

// execute uploads what spec needs, runs it with the cache lookup skipped and
// returns the final ExecuteResponse, whatever its status.
func execute(t *testing.T, conn *grpc.ClientConn, spec actionSpec) *repb.ExecuteResponse {
	t.Helper()
	resp, _ := executeAction(t, conn, spec)
	return resp
}

// executeAction is execute that also returns the action's digest.
func executeAction(t *testing.T, conn *grpc.ClientConn, spec actionSpec) (*repb.ExecuteResponse, digest.Digest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	blobs := append([][]byte(nil), spec.blobs...)
	root := spec.root
	if root == nil {
		root = &repb.Directory{}
		for _, name := range sortedKeys(spec.files) {
			data := spec.files[name]
			root.Files = append(root.Files, &repb.FileNode{Name: name, Digest: digest.OfBytes(data).Proto(), IsExecutable: true})
			blobs = append(blobs, data)
		}
	}
	rootBytes, rootDigest := marshal(t, root)
	if !spec.skipRootUpload {
		blobs = append(blobs, rootBytes)
	}
	cmdBytes, cmdDigest := marshal(t, spec.cmd)
	action := &repb.Action{CommandDigest: cmdDigest.Proto(), InputRootDigest: rootDigest.Proto(), Platform: spec.cmd.GetPlatform(), DoNotCache: !spec.cacheable}
	if spec.timeout > 0 {
		action.Timeout = durationpb.New(spec.timeout)
	}
	actionBytes, actionDigest := marshal(t, action)
	blobs = append(blobs, cmdBytes, actionBytes)

	var reqs []*repb.BatchUpdateBlobsRequest_Request
	for _, b := range blobs {
		reqs = append(reqs, &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes(b).Proto(), Data: b})
	}
	up, err := repb.NewContentAddressableStorageClient(conn).BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: reqs})
	if err != nil {
		t.Fatalf("BatchUpdateBlobs: %v", err)
	}
	for _, r := range up.GetResponses() {
		if r.GetStatus().GetCode() != 0 {
			t.Fatalf("uploading %v: %v", r.GetDigest(), r.GetStatus())
		}
	}
	stream, err := repb.NewExecutionClient(conn).Execute(ctx, &repb.ExecuteRequest{ActionDigest: actionDigest.Proto(), SkipCacheLookup: true})
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
		t.Fatalf("operation response: %v", err)
	}
	return resp, actionDigest
}

func sortedKeys(m map[string][]byte) []string {
	return slices.Sorted(maps.Keys(m))
}

func marshal(t *testing.T, m proto.Message) ([]byte, digest.Digest) {
	t.Helper()
	b, d, err := digest.OfMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, d
}

func readBlob(t *testing.T, conn *grpc.ClientConn, d *repb.Digest) string {
	t.Helper()
	if d == nil || d.GetSizeBytes() == 0 {
		return ""
	}
	resp, err := repb.NewContentAddressableStorageClient(conn).BatchReadBlobs(context.Background(), &repb.BatchReadBlobsRequest{Digests: []*repb.Digest{d}})
	if err != nil || resp.GetResponses()[0].GetStatus().GetCode() != 0 {
		t.Fatalf("BatchReadBlobs(%v) = %v, %v", d, resp, err)
	}
	return string(resp.GetResponses()[0].GetData())
}
