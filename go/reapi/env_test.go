package reapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/klauspost/compress/zstd"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/actioncache"
	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi"
)

// The real store and cache must satisfy the interfaces the services consume.
var (
	_ reapi.Store       = (*cas.Store)(nil)
	_ reapi.ActionCache = (*actioncache.Cache)(nil)
)

// env is a real gRPC server on a loopback port, backed by a real store in
// a temp dir, with clients for every service.
type env struct {
	root   string
	store  *cas.Store
	server *reapi.Server
	conn   *grpc.ClientConn
	caps   repb.CapabilitiesClient
	cas    repb.ContentAddressableStorageClient
	bs     bspb.ByteStreamClient
	acc    repb.ActionCacheClient
	calls  *calls
}

func newEnv(t *testing.T, mutate func(*reapi.Options)) *env {
	t.Helper()
	return startEnv(t, cas.Options{}, mutate, nil)
}

// startEnv opens a store and action cache in a temp dir (or storeOpts.Root
// when set) with storeOpts, applies mutate to the server's options and serves
// the storage services. register, if not nil, adds more services to the
// server before it serves and returns what closes them; that runs after
// the server stops and before the store closes.
func startEnv(t *testing.T, storeOpts cas.Options, mutate func(*reapi.Options), register func(*grpc.Server, *cas.Store, *actioncache.Cache) (closer func())) *env {
	t.Helper()
	ctx := context.Background()
	root := storeOpts.Root
	if root == "" {
		root = t.TempDir()
	}
	storeOpts.Root = root
	store, err := cas.Open(ctx, storeOpts)
	if err != nil {
		t.Fatalf("cas.Open: %v", err)
	}
	ac, err := actioncache.Open(ctx, root, store, nil)
	if err != nil {
		t.Fatalf("actioncache.Open: %v", err)
	}
	opts := reapi.Options{Store: store, ActionCache: ac}
	if mutate != nil {
		mutate(&opts)
	}
	srv, err := reapi.NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	c := &calls{}
	gs := grpc.NewServer(append(reapi.ServerOptions(opts), c.serverOption())...)
	reapi.Register(gs, srv)
	closeExtra := func() {}
	if register != nil {
		closeExtra = register(gs, store, ac)
	}
	go gs.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		closeExtra()
		srv.Close()
		store.Close()
	})
	return &env{
		root:   root,
		store:  store,
		server: srv,
		conn:   conn,
		caps:   repb.NewCapabilitiesClient(conn),
		cas:    repb.NewContentAddressableStorageClient(conn),
		bs:     bspb.NewByteStreamClient(conn),
		acc:    repb.NewActionCacheClient(conn),
		calls:  c,
	}
}

// put stores data directly in the store and returns its digest.
func (e *env) put(t *testing.T, data []byte) digest.Digest {
	t.Helper()
	d := digest.OfBytes(data)
	if err := e.store.Put(context.Background(), d, data); err != nil {
		t.Fatalf("store.Put(%s): %v", d, err)
	}
	return d
}

// assertAbsent checks that d is reported missing and has no file in the
// store.
func (e *env) assertAbsent(t *testing.T, d digest.Digest) {
	t.Helper()
	resp, err := e.cas.FindMissingBlobs(context.Background(), &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{d.Proto()}})
	if err != nil {
		t.Fatalf("FindMissingBlobs: %v", err)
	}
	if len(resp.MissingBlobDigests) != 1 {
		t.Errorf("FindMissingBlobs(%s) = %v, want it missing", d, resp.MissingBlobDigests)
	}
	if _, err := os.Stat(e.store.Path(d)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s: %v, want not exist", e.store.Path(d), err)
	}
}

// assertNoTemps checks that no upload temp file is left in the store.
func (e *env) assertNoTemps(t *testing.T) {
	t.Helper()
	tmps, _ := filepath.Glob(filepath.Join(e.root, "cas", "tmp", "*"))
	if len(tmps) != 0 {
		t.Errorf("temp files left in the store: %v", tmps)
	}
}

// assertPresent checks that the store holds d with exactly data.
func (e *env) assertPresent(t *testing.T, d digest.Digest, data []byte) {
	t.Helper()
	got, err := e.store.ReadAll(context.Background(), d, d.Size)
	if err != nil {
		t.Fatalf("store.ReadAll(%s): %v", d, err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("blob %s holds %d bytes that differ from the %d uploaded", d, len(got), len(data))
	}
}

// randomBytes returns n pseudo-random bytes, different for each seed.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// compressible returns n bytes of text that zstd shrinks a lot.
func compressible(n int) []byte {
	return []byte(strings.Repeat("actiond compresses this line well\n", n/34+1))[:n]
}

func zstdCompress(t *testing.T, data []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

func zstdDecompress(t *testing.T, data []byte) []byte {
	t.Helper()
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	out, err := dec.DecodeAll(data, nil)
	if err != nil {
		t.Fatalf("decoding zstd from the server: %v", err)
	}
	return out
}

// wantCode fails unless err has the code and, if non-empty, a message
// containing substr.
func wantCode(t *testing.T, err error, code codes.Code, substr string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("got %v (%q), want code %v", st.Code(), st.Message(), code)
	}
	if substr != "" && !strings.Contains(st.Message(), substr) {
		t.Errorf("message %q does not contain %q", st.Message(), substr)
	}
}

// write sends reqs on one Write stream and returns the response. A stream
// the server ends early is not an error here: the status comes from
// CloseAndRecv.
func (e *env) write(ctx context.Context, reqs ...*bspb.WriteRequest) (*bspb.WriteResponse, error) {
	stream, err := e.bs.Write(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if err := stream.Send(r); err != nil {
			if err == io.EOF {
				break
			}
			return nil, err
		}
	}
	return stream.CloseAndRecv()
}

// read returns all data of a Read and the sizes of its chunks.
func (e *env) read(ctx context.Context, req *bspb.ReadRequest) ([]byte, []int, error) {
	resps, err := drain(e.bs.Read(ctx, req))
	var data []byte
	var chunks []int
	for _, r := range resps {
		data = append(data, r.Data...)
		chunks = append(chunks, len(r.Data))
	}
	return data, chunks, err
}

// drain reads a server stream, as a call returns it, to its end and
// returns the messages received and the error that ended it, nil for the
// stream's normal end.
func drain[T any](stream grpc.ServerStreamingClient[T], err error) ([]*T, error) {
	if err != nil {
		return nil, err
	}
	var msgs []*T
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return msgs, nil
		}
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, m)
	}
}

// batchFailure returns the error of a batch call, or else the status of
// its first entry that is not OK, or nil.
func batchFailure[R interface{ GetStatus() *spb.Status }](entries []R, err error) error {
	if err != nil {
		return err
	}
	for _, r := range entries {
		if r.GetStatus().GetCode() != 0 {
			return status.FromProto(r.GetStatus()).Err()
		}
	}
	return nil
}

// chunked splits data into write requests of size n starting at offset
// start, the last one finishing the write.
func chunked(name string, data []byte, start int64, n int) []*bspb.WriteRequest {
	var reqs []*bspb.WriteRequest
	off := start
	for first := true; first || len(data) > 0; first = false {
		k := min(n, len(data))
		r := &bspb.WriteRequest{WriteOffset: off, Data: data[:k]}
		if first {
			r.ResourceName = name
		}
		data = data[k:]
		off += int64(k)
		reqs = append(reqs, r)
	}
	reqs[len(reqs)-1].FinishWrite = true
	return reqs
}

// mustDigest builds a well-formed digest that need not match any data.
func mustDigest(t *testing.T, hash string, size int64) digest.Digest {
	t.Helper()
	d, err := digest.New(hash, size)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// putMessage stores the wire form of m and returns its digest.
func (e *env) putMessage(t *testing.T, m proto.Message) digest.Digest {
	t.Helper()
	b, _, err := digest.OfMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	return e.put(t, b)
}
