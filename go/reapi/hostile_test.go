package reapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"golang.org/x/net/http2"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/actioncache"
	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/executor/executortest"
	"github.com/actiond/actiond/go/reapi"
	"github.com/actiond/actiond/go/sandbox"
)

// fullEnv serves every service on one loopback listener, as the daemon
// does: the storage services over a real CAS and action cache, and the
// Execution service over a real executor whose input roots and sandbox are
// fakes (the sandbox is not what these tests attack).
type fullEnv struct {
	*env
	exec   repb.ExecutionClient
	runner *executortest.Runner
}

// newFullEnv applies mutate, if any, to the server's options.
func newFullEnv(t *testing.T, mutate ...func(*reapi.Options)) *fullEnv {
	t.Helper()
	runner := &executortest.Runner{}
	e := startEnv(t, cas.Options{MaxBytes: 1 << 30}, func(o *reapi.Options) {
		o.ExecutionEnabled = true
		for _, m := range mutate {
			m(o)
		}
	},
		func(gs *grpc.Server, store *cas.Store, ac *actioncache.Cache) func() {
			ex, err := executor.New(executor.Options{
				Store:       store,
				Cache:       ac,
				Roots:       &executortest.Roots{},
				Runner:      runner,
				Jobs:        2,
				CancelGrace: 50 * time.Millisecond,
			})
			if err != nil {
				t.Fatalf("executor.New: %v", err)
			}
			reapi.NewExecutionServer(ex, nil).Register(gs)
			return func() { ex.Close() }
		})
	return &fullEnv{env: e, exec: repb.NewExecutionClient(e.conn), runner: runner}
}

// execute runs Execute to the end and returns the stream's error or, when
// the stream succeeded, the status in the final ExecuteResponse.
func (e *fullEnv) execute(ctx context.Context, req *repb.ExecuteRequest) error {
	return finalStatus(e.exec.Execute(ctx, req))
}

// finalStatus is execute's verdict on a stream of operations, as a call
// returns it.
func finalStatus(stream grpc.ServerStreamingClient[longrunningpb.Operation], err error) error {
	ops, err := drain(stream, err)
	if err != nil {
		return err
	}
	var last *longrunningpb.Operation
	if len(ops) > 0 {
		last = ops[len(ops)-1]
	}
	if last == nil || !last.GetDone() {
		return status.Errorf(codes.Unknown, "test: stream ended without a done operation: %v", last)
	}
	if last.GetError() != nil {
		return status.Errorf(codes.Unknown, "test: done operation carries error %v instead of a response", last.GetError())
	}
	resp := &repb.ExecuteResponse{}
	if err := last.GetResponse().UnmarshalTo(resp); err != nil {
		return status.Errorf(codes.Unknown, "test: done operation has no ExecuteResponse: %v", err)
	}
	return status.FromProto(resp.GetStatus()).Err()
}

// healthy checks that the server still answers after a hostile call.
func (e *fullEnv) healthy(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.caps.GetCapabilities(ctx, &repb.GetCapabilitiesRequest{}); err != nil {
		t.Fatalf("server stopped answering GetCapabilities: %v", err)
	}
	data := []byte("still alive")
	d := digest.OfBytes(data)
	resp, err := e.cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{{Digest: d.Proto(), Data: data}}})
	if err != nil || resp.GetResponses()[0].GetStatus().GetCode() != 0 {
		t.Fatalf("server stopped storing blobs: %v %v", err, resp)
	}
}

const tib = int64(1) << 40

// hash is a well-formed hash of no blob in the store.
const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestHostileRequests throws nil, zero, garbage and oversized requests at
// every RPC and checks that each gets a proper status (not UNKNOWN, not a
// dropped connection) and that the server keeps serving.
func TestHostileRequests(t *testing.T) {
	e := newFullEnv(t)
	present := e.put(t, []byte("present blob"))
	bomb := zstdCompress(t, make([]byte, 8<<20)) // 8 MiB of zeros in a few hundred bytes
	garbageAction := e.put(t, []byte("\xff\xff\xff not a proto"))
	msg := func(m proto.Message) *repb.Digest { return e.putMessage(t, m).Proto() }
	emptyDir := msg(&repb.Directory{})
	noCommand := msg(&repb.Action{InputRootDigest: emptyDir})
	nilPlatform := msg(&repb.Action{
		CommandDigest:   msg(&repb.Command{Arguments: []string{"/bin/true"}}),
		InputRootDigest: emptyDir,
	})
	noArgs := msg(&repb.Action{CommandDigest: msg(&repb.Command{}), InputRootDigest: emptyDir})
	noInputRoot := msg(&repb.Action{CommandDigest: msg(&repb.Command{Arguments: []string{"/bin/true"}})})

	type call func(ctx context.Context) error
	readAll := func(ctx context.Context, req *bspb.ReadRequest) error {
		_, err := drain(e.bs.Read(ctx, req))
		return err
	}
	write := func(ctx context.Context, reqs ...*bspb.WriteRequest) error {
		s, err := e.bs.Write(ctx)
		if err != nil {
			return err
		}
		for _, r := range reqs {
			if err := s.Send(r); err != nil {
				break // the server ended the stream; CloseAndRecv has its status
			}
		}
		_, err = s.CloseAndRecv()
		return err
	}
	batchUpdate := func(ctx context.Context, reqs ...*repb.BatchUpdateBlobsRequest_Request) error {
		resp, err := e.cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: reqs})
		return batchFailure(resp.GetResponses(), err)
	}
	batchRead := func(ctx context.Context, ds ...*repb.Digest) error {
		resp, err := e.cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{Digests: ds, AcceptableCompressors: []repb.Compressor_Value{repb.Compressor_ZSTD}})
		return batchFailure(resp.GetResponses(), err)
	}
	getTree := func(ctx context.Context, req *repb.GetTreeRequest) error {
		_, err := drain(e.cas.GetTree(ctx, req))
		return err
	}
	wait := func(ctx context.Context, name string) error {
		return finalStatus(e.exec.WaitExecution(ctx, &repb.WaitExecutionRequest{Name: name}))
	}
	huge := &repb.Digest{Hash: hash, SizeBytes: math.MaxInt64}

	for _, tc := range []struct {
		name string
		call call
		want codes.Code
	}{
		{"GetCapabilities empty", func(ctx context.Context) error {
			_, err := e.caps.GetCapabilities(ctx, &repb.GetCapabilitiesRequest{})
			return err
		}, codes.OK},

		{"FindMissingBlobs empty request", func(ctx context.Context) error {
			_, err := e.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{})
			return err
		}, codes.OK},
		{"FindMissingBlobs nil digest", func(ctx context.Context) error {
			_, err := e.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{nil}})
			return err
		}, codes.InvalidArgument},
		{"FindMissingBlobs negative size", func(ctx context.Context) error {
			_, err := e.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{{Hash: hash, SizeBytes: -1}}})
			return err
		}, codes.InvalidArgument},
		{"FindMissingBlobs uppercase hash", func(ctx context.Context) error {
			_, err := e.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{{Hash: "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"}}})
			return err
		}, codes.InvalidArgument},
		{"FindMissingBlobs unsupported digest function", func(ctx context.Context) error {
			_, err := e.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{DigestFunction: repb.DigestFunction_BLAKE3})
			return err
		}, codes.InvalidArgument},
		{"FindMissingBlobs undefined digest function", func(ctx context.Context) error {
			_, err := e.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{DigestFunction: 999})
			return err
		}, codes.InvalidArgument},

		{"BatchUpdateBlobs nil digest", func(ctx context.Context) error {
			return batchUpdate(ctx, &repb.BatchUpdateBlobsRequest_Request{Data: []byte("x")})
		}, codes.InvalidArgument},
		{"BatchUpdateBlobs nil entry", func(ctx context.Context) error {
			return batchUpdate(ctx, nil)
		}, codes.InvalidArgument},
		{"BatchUpdateBlobs 1 TiB declared", func(ctx context.Context) error {
			return batchUpdate(ctx, &repb.BatchUpdateBlobsRequest_Request{Digest: &repb.Digest{Hash: hash, SizeBytes: tib}, Compressor: repb.Compressor_ZSTD, Data: bomb})
		}, codes.InvalidArgument},
		{"BatchUpdateBlobs declared sizes overflowing int64", func(ctx context.Context) error {
			return batchUpdate(ctx,
				&repb.BatchUpdateBlobsRequest_Request{Digest: huge, Compressor: repb.Compressor_ZSTD, Data: bomb},
				&repb.BatchUpdateBlobsRequest_Request{Digest: &repb.Digest{Hash: hash, SizeBytes: 1}, Data: []byte("x")})
		}, codes.InvalidArgument},
		{"BatchUpdateBlobs zstd bomb", func(ctx context.Context) error {
			return batchUpdate(ctx, &repb.BatchUpdateBlobsRequest_Request{Digest: &repb.Digest{Hash: hash, SizeBytes: 1000}, Compressor: repb.Compressor_ZSTD, Data: bomb})
		}, codes.InvalidArgument},
		{"BatchUpdateBlobs corrupt zstd", func(ctx context.Context) error {
			return batchUpdate(ctx, &repb.BatchUpdateBlobsRequest_Request{Digest: &repb.Digest{Hash: hash, SizeBytes: 10}, Compressor: repb.Compressor_ZSTD, Data: []byte("\x28\xb5\x2f\xfdgarbage")})
		}, codes.InvalidArgument},
		{"BatchUpdateBlobs undefined compressor", func(ctx context.Context) error {
			return batchUpdate(ctx, &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes([]byte("x")).Proto(), Compressor: 77, Data: []byte("x")})
		}, codes.InvalidArgument},
		{"BatchUpdateBlobs wrong bytes", func(ctx context.Context) error {
			return batchUpdate(ctx, &repb.BatchUpdateBlobsRequest_Request{Digest: &repb.Digest{Hash: hash, SizeBytes: 1}, Data: []byte("x")})
		}, codes.InvalidArgument},

		{"BatchReadBlobs nil digest", func(ctx context.Context) error { return batchRead(ctx, nil) }, codes.InvalidArgument},
		{"BatchReadBlobs 1 TiB declared", func(ctx context.Context) error {
			return batchRead(ctx, &repb.Digest{Hash: hash, SizeBytes: tib})
		}, codes.InvalidArgument},
		{"BatchReadBlobs declared sizes overflowing int64", func(ctx context.Context) error {
			return batchRead(ctx, huge, huge, present.Proto())
		}, codes.InvalidArgument},
		{"BatchReadBlobs missing", func(ctx context.Context) error {
			return batchRead(ctx, &repb.Digest{Hash: hash, SizeBytes: 3})
		}, codes.NotFound},
		{"BatchReadBlobs empty blob", func(ctx context.Context) error { return batchRead(ctx, digest.Empty.Proto()) }, codes.OK},

		{"GetTree nil root", func(ctx context.Context) error { return getTree(ctx, &repb.GetTreeRequest{}) }, codes.InvalidArgument},
		{"GetTree missing root", func(ctx context.Context) error {
			return getTree(ctx, &repb.GetTreeRequest{RootDigest: &repb.Digest{Hash: hash, SizeBytes: 5}})
		}, codes.NotFound},
		{"GetTree 1 TiB root", func(ctx context.Context) error {
			return getTree(ctx, &repb.GetTreeRequest{RootDigest: &repb.Digest{Hash: hash, SizeBytes: tib}})
		}, codes.ResourceExhausted},
		{"GetTree root is not a Directory", func(ctx context.Context) error {
			return getTree(ctx, &repb.GetTreeRequest{RootDigest: garbageAction.Proto()})
		}, codes.InvalidArgument},
		{"GetTree garbage page token", func(ctx context.Context) error {
			return getTree(ctx, &repb.GetTreeRequest{RootDigest: emptyDir, PageToken: "\x00garbage"})
		}, codes.InvalidArgument},
		{"GetTree negative page size", func(ctx context.Context) error {
			return getTree(ctx, &repb.GetTreeRequest{RootDigest: emptyDir, PageSize: -5})
		}, codes.OK},

		{"Read empty resource name", func(ctx context.Context) error { return readAll(ctx, &bspb.ReadRequest{}) }, codes.InvalidArgument},
		{"Read garbage resource name", func(ctx context.Context) error {
			return readAll(ctx, &bspb.ReadRequest{ResourceName: "blobs/../../etc/passwd/5"})
		}, codes.InvalidArgument},
		{"Read missing 1 TiB blob", func(ctx context.Context) error {
			return readAll(ctx, &bspb.ReadRequest{ResourceName: "blobs/" + hash + "/1099511627776"})
		}, codes.NotFound},
		{"Read huge read_limit", func(ctx context.Context) error {
			return readAll(ctx, &bspb.ReadRequest{ResourceName: "blobs/" + present.String(), ReadLimit: math.MaxInt64})
		}, codes.OK},
		{"Read offset at the end", func(ctx context.Context) error {
			return readAll(ctx, &bspb.ReadRequest{ResourceName: "blobs/" + present.String(), ReadOffset: present.Size})
		}, codes.OK},
		{"Read offset past the end", func(ctx context.Context) error {
			return readAll(ctx, &bspb.ReadRequest{ResourceName: "blobs/" + present.String(), ReadOffset: present.Size + 1})
		}, codes.OutOfRange},
		{"Read negative offset", func(ctx context.Context) error {
			return readAll(ctx, &bspb.ReadRequest{ResourceName: "blobs/" + present.String(), ReadOffset: -1})
		}, codes.OutOfRange},
		{"Read negative limit", func(ctx context.Context) error {
			return readAll(ctx, &bspb.ReadRequest{ResourceName: "blobs/" + present.String(), ReadLimit: -1})
		}, codes.InvalidArgument},
		{"Read unsupported compressor", func(ctx context.Context) error {
			return readAll(ctx, &bspb.ReadRequest{ResourceName: "compressed-blobs/brotli/" + present.String()})
		}, codes.InvalidArgument},

		{"Write with no requests", func(ctx context.Context) error { return write(ctx) }, codes.InvalidArgument},
		{"Write empty resource name", func(ctx context.Context) error {
			return write(ctx, &bspb.WriteRequest{Data: []byte("x"), FinishWrite: true})
		}, codes.InvalidArgument},
		{"Write read resource name", func(ctx context.Context) error {
			return write(ctx, &bspb.WriteRequest{ResourceName: "blobs/" + hash + "/1", Data: []byte("x"), FinishWrite: true})
		}, codes.InvalidArgument},
		{"Write 1 TiB declared", func(ctx context.Context) error {
			return write(ctx, &bspb.WriteRequest{ResourceName: "uploads/u1/blobs/" + hash + "/1099511627776", Data: []byte("x")})
		}, codes.ResourceExhausted},
		{"Write max int64 declared", func(ctx context.Context) error {
			return write(ctx, &bspb.WriteRequest{ResourceName: "uploads/u1/blobs/" + hash + "/9223372036854775807", Data: []byte("x")})
		}, codes.ResourceExhausted},
		{"Write offset garbage", func(ctx context.Context) error {
			return write(ctx, &bspb.WriteRequest{ResourceName: "uploads/u2/blobs/" + hash + "/1", WriteOffset: math.MinInt64, Data: []byte("x")})
		}, codes.InvalidArgument},
		{"Write past declared size", func(ctx context.Context) error {
			return write(ctx, &bspb.WriteRequest{ResourceName: "uploads/u3/blobs/" + hash + "/1", Data: []byte("xx"), FinishWrite: true})
		}, codes.InvalidArgument},
		{"Write wrong bytes", func(ctx context.Context) error {
			return write(ctx, &bspb.WriteRequest{ResourceName: "uploads/u4/blobs/" + hash + "/1", Data: []byte("x"), FinishWrite: true})
		}, codes.InvalidArgument},
		{"Write zstd bomb", func(ctx context.Context) error {
			return write(ctx, &bspb.WriteRequest{ResourceName: "uploads/u5/compressed-blobs/zstd/" + hash + "/1000", Data: bomb, FinishWrite: true})
		}, codes.InvalidArgument},
		{"Write corrupt zstd", func(ctx context.Context) error {
			return write(ctx, &bspb.WriteRequest{ResourceName: "uploads/u6/compressed-blobs/zstd/" + hash + "/10", Data: []byte("\x28\xb5\x2f\xfdgarbage"), FinishWrite: true})
		}, codes.InvalidArgument},
		{"Write zstd 1 TiB declared", func(ctx context.Context) error {
			return write(ctx, &bspb.WriteRequest{ResourceName: "uploads/u7/compressed-blobs/zstd/" + hash + "/1099511627776", Data: bomb, FinishWrite: true})
		}, codes.ResourceExhausted},
		{"Write resource name changes mid-stream", func(ctx context.Context) error {
			return write(ctx,
				&bspb.WriteRequest{ResourceName: "uploads/u8/blobs/" + hash + "/2", Data: []byte("x")},
				&bspb.WriteRequest{ResourceName: "uploads/u9/blobs/" + hash + "/2", WriteOffset: 1, Data: []byte("x"), FinishWrite: true})
		}, codes.InvalidArgument},

		{"QueryWriteStatus empty name", func(ctx context.Context) error {
			_, err := e.bs.QueryWriteStatus(ctx, &bspb.QueryWriteStatusRequest{})
			return err
		}, codes.InvalidArgument},

		{"GetActionResult nil digest", func(ctx context.Context) error {
			_, err := e.acc.GetActionResult(ctx, &repb.GetActionResultRequest{})
			return err
		}, codes.InvalidArgument},
		{"GetActionResult missing with inlining", func(ctx context.Context) error {
			_, err := e.acc.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: &repb.Digest{Hash: hash, SizeBytes: 1}, InlineStdout: true, InlineOutputFiles: []string{"", "../x"}})
			return err
		}, codes.NotFound},
		{"UpdateActionResult nil result", func(ctx context.Context) error {
			_, err := e.acc.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{ActionDigest: &repb.Digest{Hash: hash, SizeBytes: 1}})
			return err
		}, codes.InvalidArgument},
		{"UpdateActionResult nil digest", func(ctx context.Context) error {
			_, err := e.acc.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{ActionResult: &repb.ActionResult{}})
			return err
		}, codes.InvalidArgument},
		{"UpdateActionResult nil entries", func(ctx context.Context) error {
			_, err := e.acc.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{
				ActionDigest: &repb.Digest{Hash: hash, SizeBytes: 1},
				ActionResult: &repb.ActionResult{
					OutputFiles:       []*repb.OutputFile{nil},
					OutputDirectories: []*repb.OutputDirectory{nil},
					OutputSymlinks:    []*repb.OutputSymlink{nil},
				},
			})
			return err
		}, codes.InvalidArgument},
		{"UpdateActionResult missing outputs", func(ctx context.Context) error {
			_, err := e.acc.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{
				ActionDigest: &repb.Digest{Hash: hash, SizeBytes: 1},
				ActionResult: &repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "out", Digest: &repb.Digest{Hash: hash, SizeBytes: 9}}}},
			})
			return err
		}, codes.FailedPrecondition},
		{"UpdateActionResult traversal", func(ctx context.Context) error {
			_, err := e.acc.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{
				ActionDigest: &repb.Digest{Hash: hash, SizeBytes: 1},
				ActionResult: &repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "../../etc/passwd", Digest: present.Proto()}}},
			})
			return err
		}, codes.InvalidArgument},

		{"Execute nil action digest", func(ctx context.Context) error { return e.execute(ctx, &repb.ExecuteRequest{}) }, codes.InvalidArgument},
		{"Execute unsupported digest function", func(ctx context.Context) error {
			return e.execute(ctx, &repb.ExecuteRequest{ActionDigest: nilPlatform, DigestFunction: repb.DigestFunction_MD5})
		}, codes.InvalidArgument},
		{"Execute missing action", func(ctx context.Context) error {
			return e.execute(ctx, &repb.ExecuteRequest{ActionDigest: &repb.Digest{Hash: hash, SizeBytes: 10}})
		}, codes.FailedPrecondition},
		{"Execute 1 TiB action", func(ctx context.Context) error {
			return e.execute(ctx, &repb.ExecuteRequest{ActionDigest: &repb.Digest{Hash: hash, SizeBytes: tib}})
		}, codes.InvalidArgument},
		{"Execute action that is not a proto", func(ctx context.Context) error {
			return e.execute(ctx, &repb.ExecuteRequest{ActionDigest: garbageAction.Proto()})
		}, codes.InvalidArgument},
		{"Execute action without command digest", func(ctx context.Context) error {
			return e.execute(ctx, &repb.ExecuteRequest{ActionDigest: noCommand})
		}, codes.InvalidArgument},
		{"Execute command without arguments", func(ctx context.Context) error {
			return e.execute(ctx, &repb.ExecuteRequest{ActionDigest: noArgs, SkipCacheLookup: true})
		}, codes.InvalidArgument},
		{"Execute action without input root", func(ctx context.Context) error {
			return e.execute(ctx, &repb.ExecuteRequest{ActionDigest: noInputRoot})
		}, codes.InvalidArgument},
		{"Execute without any platform", func(ctx context.Context) error {
			return e.execute(ctx, &repb.ExecuteRequest{ActionDigest: nilPlatform, DigestFunction: repb.DigestFunction_SHA256})
		}, codes.OK},
		{"WaitExecution empty name", func(ctx context.Context) error { return wait(ctx, "") }, codes.NotFound},
		{"WaitExecution garbage name", func(ctx context.Context) error { return wait(ctx, "operations/../../\u00ff") }, codes.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := tc.call(ctx)
			if got := status.Code(err); got != tc.want {
				t.Errorf("got %v (%v), want %v", got, err, tc.want)
			}
			e.healthy(t)
		})
	}
}

// TestBatchLimitCountsDeclaredSizes checks that the declared sizes, summed
// without overflow, decide whether a batch fits, so that a zstd entry whose
// compressed bytes exceed its (fitting) declared size is still accepted.
func TestBatchLimitCountsDeclaredSizes(t *testing.T) {
	e := newEnv(t, func(o *reapi.Options) { o.MaxBatchTotalSizeBytes = 64 << 10 })
	data := randomBytes(64<<10, 7) // incompressible: the frame is a little larger
	c := zstdCompress(t, data)
	if len(c) <= len(data) {
		t.Fatalf("test setup: compressed %d bytes to %d, want growth", len(data), len(c))
	}
	d := digest.OfBytes(data)
	resp, err := e.cas.BatchUpdateBlobs(t.Context(), &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{
		{Digest: d.Proto(), Compressor: repb.Compressor_ZSTD, Data: c},
	}})
	if err != nil {
		t.Fatalf("BatchUpdateBlobs of a blob of exactly the batch limit: %v", err)
	}
	if code := resp.GetResponses()[0].GetStatus().GetCode(); code != 0 {
		t.Fatalf("entry status %v, want OK", codes.Code(code))
	}
	e.assertPresent(t, d, data)
	if got, _, err := e.read(t.Context(), &bspb.ReadRequest{ResourceName: "blobs/" + d.String()}); err != nil || !bytes.Equal(got, data) {
		t.Errorf("Read after batch upload: err %v, %d bytes", err, len(got))
	}
}

// wideWindowFrame returns a zstd frame whose header claims a 128 MiB
// window (and no content size) and which holds n RLE blocks of 128 KiB - 1
// bytes of 'a': a few dozen bytes that a streaming decoder answers by
// allocating the whole window.
func wideWindowFrame(n int) ([]byte, []byte) {
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3} // window 2^(10+17)
	const block = 128<<10 - 1
	for i := range n {
		h := uint32(block)<<3 | 1<<1 // RLE block
		if i == n-1 {
			h |= 1 // last
		}
		frame = append(frame, byte(h), byte(h>>8), byte(h>>16), 'a')
	}
	return frame, bytes.Repeat([]byte("a"), n*block)
}

// TestZstdWindowClaimsCostNoMemory sends many batch entries whose frames
// claim a 128 MiB window: legitimate ones must be stored, bogus ones
// refused, and neither may make the server allocate windows.
func TestZstdWindowClaimsCostNoMemory(t *testing.T) {
	e := newEnv(t, nil)
	frame, data := wideWindowFrame(8) // 1 MiB
	good := digest.OfBytes(data)
	var reqs []*repb.BatchUpdateBlobsRequest_Request
	for range 3 {
		reqs = append(reqs, &repb.BatchUpdateBlobsRequest_Request{Digest: good.Proto(), Compressor: repb.Compressor_ZSTD, Data: frame})
	}
	for i := range 64 {
		// Declares 1000 bytes but inflates to 1 MiB.
		reqs = append(reqs, &repb.BatchUpdateBlobsRequest_Request{
			Digest:     &repb.Digest{Hash: digest.OfBytes([]byte{byte(i)}).Hash, SizeBytes: 1000},
			Compressor: repb.Compressor_ZSTD, Data: frame,
		})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := e.cas.BatchUpdateBlobs(t.Context(), &repb.BatchUpdateBlobsRequest{Requests: reqs})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("BatchUpdateBlobs: %v", err)
	}
	for i, r := range resp.GetResponses() {
		want := codes.OK
		if i >= 3 {
			want = codes.InvalidArgument
		}
		if got := codes.Code(r.GetStatus().GetCode()); got != want {
			t.Errorf("entry %d: got %v (%s), want %v", i, got, r.GetStatus().GetMessage(), want)
		}
	}
	e.assertPresent(t, good, data)
	// The client and the server share this process; 67 windows would be
	// over 8 GiB, the data involved is a few MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("the batch allocated %d MiB, want well under one 128 MiB window per entry", alloc>>20)
	}
}

// TestWideZstdWindowsAreRationed opens many compressed uploads whose frames
// claim a 128 MiB window and stops each after its first block: only a few
// may hold a window at once, and all must complete once they go on.
// Narrow-window uploads (what Bazel sends) are not held up meanwhile.
func TestWideZstdWindowsAreRationed(t *testing.T) {
	e := newEnv(t, nil)
	frame, data := wideWindowFrame(8)
	d := digest.OfBytes(data)
	const streams = 12
	// The frame header and the first five blocks: more than the server
	// reads before it picks a decoder (zstd.HeaderMaxSize).
	header := 6 + 5*4
	type open struct {
		stream bspb.ByteStream_WriteClient
		name   string
	}
	var opened []open
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range streams {
		s, err := e.bs.Write(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		name := "uploads/wide" + string(rune('a'+i)) + "/compressed-blobs/zstd/" + d.String()
		if err := s.Send(&bspb.WriteRequest{ResourceName: name, Data: frame[:header]}); err != nil {
			t.Fatal(err)
		}
		opened = append(opened, open{s, name})
	}

	// Meanwhile a narrow-window upload goes through.
	narrow := compressible(100 << 10)
	nd := digest.OfBytes(narrow)
	if _, err := e.write(t.Context(), chunked("uploads/narrow/compressed-blobs/zstd/"+nd.String(), zstdCompress(t, narrow), 0, 16<<10)...); err != nil {
		t.Fatalf("narrow upload while wide ones wait: %v", err)
	}

	// The server decodes what it may: every wide-window slot is taken.
	waitFor(t, func() bool { return reapi.WideDecodersInUse() == reapi.MaxWideDecoders }, func() string {
		return fmt.Sprintf("%d wide-window decoders in use, want %d", reapi.WideDecodersInUse(), reapi.MaxWideDecoders)
	})
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	if grew := int64(during.HeapAlloc) - int64(before.HeapAlloc); grew > 6*(128<<20) {
		t.Errorf("heap grew by %d MiB with %d wide uploads started, want at most a few windows", grew>>20, streams)
	}

	// Every stream goes on before any is awaited: those holding a slot
	// must finish for the others to get one.
	for _, o := range opened {
		if err := o.stream.Send(&bspb.WriteRequest{WriteOffset: int64(header), Data: frame[header:], FinishWrite: true}); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("%s: %v", o.name, err)
		}
	}
	for _, o := range opened {
		if _, err := o.stream.CloseAndRecv(); err != nil {
			t.Errorf("%s: %v", o.name, err)
		}
	}
	e.assertPresent(t, d, data)
}

// TestAbandonedUploadsAreCapped abandons more uploads than the server keeps:
// the least recently used are dropped with their temp files, the newest
// stay resumable.
func TestAbandonedUploadsAreCapped(t *testing.T) {
	const kept = 3
	e := newEnv(t, func(o *reapi.Options) { o.MaxKeptUploads = kept })
	var names []string
	for i := range 10 {
		data := randomBytes(64<<10, uint64(100+i))
		d := digest.OfBytes(data)
		name := "uploads/abandoned" + string(rune('a'+i)) + "/blobs/" + d.String()
		names = append(names, name)
		if resp, err := e.write(t.Context(), &bspb.WriteRequest{ResourceName: name, Data: data[:1000]}); err != nil || resp.GetCommittedSize() != 1000 {
			t.Fatalf("partial write %d: %v, %v", i, resp, err)
		}
	}
	if n := e.server.PendingUploads(); n != kept {
		t.Errorf("%d uploads kept, want %d", n, kept)
	}
	for i, name := range names {
		st, err := e.bs.QueryWriteStatus(t.Context(), &bspb.QueryWriteStatusRequest{ResourceName: name})
		if err != nil {
			t.Fatalf("QueryWriteStatus: %v", err)
		}
		want := int64(0)
		if i >= len(names)-kept {
			want = 1000
		}
		if st.GetCommittedSize() != want {
			t.Errorf("upload %d: committed_size %d, want %d", i, st.GetCommittedSize(), want)
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(e.root, "cas", "tmp", "*"))
	if len(tmps) > kept {
		t.Errorf("%d temp files left for %d kept uploads", len(tmps), kept)
	}
}

// panickyStore panics where a bug in the store or in a handler might.
type panickyStore struct{ reapi.Store }

func (panickyStore) FindMissing(ctx context.Context, ds []digest.Digest) []digest.Digest {
	panic("FindMissing exploded")
}

func (panickyStore) Put(ctx context.Context, d digest.Digest, data []byte) error {
	var m map[string]int
	m["nil map"]++ // a runtime error, as a real bug would raise
	return nil
}

// TestPanicsAreContained checks that a panic in a handler, or in one of the
// goroutines a batch call spreads its entries over, fails that call with
// INTERNAL instead of killing the server.
func TestPanicsAreContained(t *testing.T) {
	e := newEnv(t, func(o *reapi.Options) { o.Store = panickyStore{o.Store} })
	var reqs []*repb.BatchUpdateBlobsRequest_Request
	for i := range 100 {
		b := []byte{byte(i), 'x'}
		reqs = append(reqs, &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes(b).Proto(), Data: b})
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"FindMissingBlobs", func() error {
			_, err := e.cas.FindMissingBlobs(t.Context(), &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{{Hash: hash, SizeBytes: 1}}})
			return err
		}},
		{"BatchUpdateBlobs over many goroutines", func() error {
			_, err := e.cas.BatchUpdateBlobs(t.Context(), &repb.BatchUpdateBlobsRequest{Requests: reqs})
			return err
		}},
		{"BatchUpdateBlobs of one blob", func() error {
			_, err := e.cas.BatchUpdateBlobs(t.Context(), &repb.BatchUpdateBlobsRequest{Requests: reqs[:1]})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.call(), codes.Internal, "panic")
			if _, err := e.caps.GetCapabilities(t.Context(), &repb.GetCapabilitiesRequest{}); err != nil {
				t.Fatalf("server stopped answering after the panic: %v", err)
			}
		})
	}
}

// TestClientPingsAreRationedByKeepaliveMinTime pings a server over raw
// HTTP/2 (grpc-go clients cannot ping more often than every 10 s): pings
// spaced by more than Options.KeepaliveMinTime are answered, as Bazel's
// --grpc_keepalive_time pings must be, and a burst gets GOAWAY
// too_many_pings, which shows the check would see a refusal.
func TestClientPingsAreRationedByKeepaliveMinTime(t *testing.T) {
	const minTime = 100 * time.Millisecond
	ctx := context.Background()
	root := t.TempDir()
	store, err := cas.Open(ctx, cas.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := actioncache.Open(ctx, root, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := reapi.Options{Store: store, ActionCache: ac, KeepaliveMinTime: minTime}
	srv, err := reapi.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(reapi.ServerOptions(opts)...)
	reapi.Register(gs, srv)
	go gs.Serve(lis)
	t.Cleanup(func() { gs.Stop(); srv.Close(); store.Close() })

	c := dialRawHTTP2(t, lis.Addr().String())
	// The reader reports ping acks and GOAWAYs as the server sends them.
	acks, goaway := make(chan struct{}, 100), make(chan *http2.GoAwayFrame, 1)
	c.readFrames(func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.PingFrame:
			if f.IsAck() {
				acks <- struct{}{}
			}
		case *http2.GoAwayFrame:
			goaway <- f
			return false
		}
		return true
	})
	ping := func() {
		t.Helper()
		err := c.write(func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{1}) })
		if err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	// Spaced pings: each is answered and none draws a GOAWAY. Each waits
	// for the previous answer, so delays only widen the spacing.
	for i := range 5 {
		ping()
		select {
		case <-acks:
		case f := <-goaway:
			t.Fatalf("ping %d, spaced by %v with KeepaliveMinTime %v: GOAWAY %v %q", i, 5*minTime, minTime, f.ErrCode, f.DebugData())
		case <-time.After(time.Minute):
			t.Fatalf("ping %d not answered", i)
		}
		time.Sleep(5 * minTime) // the spacing under test, not a synchronisation
	}
	// A burst: the server must refuse it.
	for range 10 {
		ping()
	}
	select {
	case f := <-goaway:
		if f.ErrCode != http2.ErrCodeEnhanceYourCalm || string(f.DebugData()) != "too_many_pings" {
			t.Errorf("GOAWAY %v %q after a burst of pings, want ENHANCE_YOUR_CALM too_many_pings", f.ErrCode, f.DebugData())
		}
	case <-time.After(time.Minute):
		t.Errorf("a burst of pings drew no GOAWAY: the check above could not see one either")
	}
}

// TestCancelledCallsLeaveNoGoroutines cancels every kind of long call
// midway (a Read of a large blob, plain and compressed Writes, a compressed
// Write waiting for a wide-window slot, Execute and WaitExecution on a
// running action) and checks that the server's goroutines go back to
// where they were.
func TestCancelledCallsLeaveNoGoroutines(t *testing.T) {
	e := newFullEnv(t)
	e.runner.Func = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
		<-ctx.Done()
		return sandbox.Result{}, ctx.Err()
	}
	big := e.put(t, randomBytes(64<<20, 3))
	wide, wideData := wideWindowFrame(2)
	wd := digest.OfBytes(wideData)
	action := e.putMessage(t, &repb.Action{
		CommandDigest:   e.putMessage(t, &repb.Command{Arguments: []string{"/bin/sleep", "1000"}}).Proto(),
		InputRootDigest: e.putMessage(t, &repb.Directory{}).Proto(),
	}).Proto()
	e.healthy(t)
	e.calls.waitActive(t, 0)
	baseline := runtime.NumGoroutine()

	for round := range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		r, err := e.bs.Read(ctx, &bspb.ReadRequest{ResourceName: "blobs/" + big.String()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Recv(); err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{
			"uploads/c%d/blobs/" + big.String(),
			"uploads/c%d/compressed-blobs/zstd/" + big.String(),
		} {
			w, err := e.bs.Write(ctx)
			if err != nil {
				t.Fatal(err)
			}
			data := zstdCompress(t, []byte("partial"))
			if i == 0 {
				data = []byte("partial")
			}
			if err := w.Send(&bspb.WriteRequest{ResourceName: fmt.Sprintf(name, round), Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		// More wide-window uploads than there are slots: some wait.
		for i := range 6 {
			w, err := e.bs.Write(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Send(&bspb.WriteRequest{ResourceName: fmt.Sprintf("uploads/w%d-%d/compressed-blobs/zstd/%s", round, i, wd), Data: wide[:10]}); err != nil {
				t.Fatal(err)
			}
		}
		x, err := e.exec.Execute(ctx, &repb.ExecuteRequest{ActionDigest: action, SkipCacheLookup: true})
		if err != nil {
			t.Fatal(err)
		}
		first, err := x.Recv()
		if err != nil {
			t.Fatal(err)
		}
		wt, err := e.exec.WaitExecution(ctx, &repb.WaitExecutionRequest{Name: first.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Recv(); err != nil {
			t.Fatal(err)
		}
		// The server is inside every call: the Read, the six wide Writes,
		// Execute and WaitExecution. (The two Writes of big end at once:
		// the blob is already stored.)
		e.calls.waitActive(t, 9)
		cancel()
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline+2 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines 10 s after cancelling, %d before:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.healthy(t)
}
