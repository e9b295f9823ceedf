package reapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi"
	"github.com/actiond/actiond/go/sandbox"
)

// responsiveBound is how long the well-behaved client's calls may take
// while a hostile client attacks: far above what they take on an idle
// machine, so that only a server that stopped serving others fails it,
// not a busy test machine.
const responsiveBound = 10 * time.Second

// newHostileEnv is a fullEnv whose fake sandbox runs /bin/sleep until the
// action is cancelled and everything else at once, successfully.
func newHostileEnv(t *testing.T, mutate ...func(*reapi.Options)) *fullEnv {
	t.Helper()
	e := newFullEnv(t, mutate...)
	e.runner.Func = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
		if len(spec.Args) > 0 && spec.Args[0] == "/bin/sleep" {
			<-ctx.Done()
			return sandbox.Result{}, ctx.Err()
		}
		return sandbox.Result{}, nil
	}
	return e
}

// addr is the server's host:port.
func (e *fullEnv) addr() string {
	return strings.TrimPrefix(e.conn.Target(), "passthrough:///")
}

// dial opens a client connection of its own to the server.
func (e *fullEnv) dial(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(128<<20), grpc.MaxCallSendMsgSize(128<<20)),
	}, opts...)
	conn, err := grpc.NewClient(e.conn.Target(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// bystander is a well-behaved client on a connection of its own, which
// checks that the server still answers it while another client attacks.
type bystander struct {
	caps   repb.CapabilitiesClient
	cas    repb.ContentAddressableStorageClient
	exec   repb.ExecutionClient
	action *repb.Digest
	mu     sync.Mutex
	worst  time.Duration
	checks int
}

// newBystander connects and makes one check, so that its connection is
// up before a test takes its goroutine baseline.
func newBystander(t *testing.T, e *fullEnv) *bystander {
	t.Helper()
	conn := e.dial(t)
	t.Cleanup(func() { conn.Close() })
	b := &bystander{
		caps: repb.NewCapabilitiesClient(conn),
		cas:  repb.NewContentAddressableStorageClient(conn),
		exec: repb.NewExecutionClient(conn),
		action: e.putMessage(t, &repb.Action{
			CommandDigest:   e.putMessage(t, &repb.Command{Arguments: []string{"/bin/true"}}).Proto(),
			InputRootDigest: e.putMessage(t, &repb.Directory{}).Proto(),
		}).Proto(),
	}
	b.check(t)
	b.worst, b.checks = 0, 0
	return b
}

// check runs GetCapabilities, a FindMissingBlobs and a trivial Execute
// (the cache skipped, so it runs) and records how long they took.
func (b *bystander) check(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := b.caps.GetCapabilities(ctx, &repb.GetCapabilitiesRequest{}); err != nil {
		t.Fatalf("well-behaved client: GetCapabilities: %v", err)
	}
	if _, err := b.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{b.action, {Hash: hash, SizeBytes: 1}}}); err != nil {
		t.Fatalf("well-behaved client: FindMissingBlobs: %v", err)
	}
	if err := finalStatus(b.exec.Execute(ctx, &repb.ExecuteRequest{ActionDigest: b.action, SkipCacheLookup: true})); err != nil {
		t.Fatalf("well-behaved client: Execute: %v", err)
	}
	took := time.Since(start)
	b.mu.Lock()
	b.worst = max(b.worst, took)
	b.checks++
	b.mu.Unlock()
}

// until checks repeatedly until done is closed.
func (b *bystander) until(t *testing.T, done <-chan struct{}) {
	t.Helper()
	for {
		b.check(t)
		select {
		case <-done:
			return
		default:
		}
	}
}

// report logs the slowest check and fails if it exceeded responsiveBound.
func (b *bystander) report(t *testing.T, during string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.checks == 0 {
		t.Fatalf("test bug: no well-behaved calls %s", during)
	}
	t.Logf("%s: the well-behaved client's GetCapabilities + FindMissingBlobs + Execute took at most %v (%d checks)", during, b.worst, b.checks)
	if b.worst > responsiveBound {
		t.Errorf("%s: a well-behaved client waited %v, want under %v", during, b.worst, responsiveBound)
	}
}

// quiescent waits until nothing of the server's is active: no streaming
// call in it, and returns its goroutine count as a baseline.
func (e *fullEnv) quiescent(t *testing.T) int {
	t.Helper()
	e.healthy(t)
	e.calls.waitActive(t, 0)
	return runtime.NumGoroutine()
}

// assertNothingLeft waits until the server's calls have ended, its
// goroutines are back to baseline (give or take two, as in
// TestCancelledCallsLeaveNoGoroutines), the upload table is empty and no
// temp file is left in the store.
func (e *fullEnv) assertNothingLeft(t *testing.T, baseline int) {
	t.Helper()
	e.calls.waitActive(t, 0)
	waitFor(t, func() bool { return e.server.PendingUploads() == 0 }, func() string {
		return fmt.Sprintf("%d uploads still kept", e.server.PendingUploads())
	})
	waitFor(t, func() bool { return runtime.NumGoroutine() <= baseline+2 }, func() string {
		buf := make([]byte, 1<<20)
		return fmt.Sprintf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
	})
	e.assertNoTemps(t)
}

// TestThousandsOfStreamsOnOneConnection opens thousands of Write streams on
// one raw HTTP/2 connection (a gRPC client would queue them itself): the
// server runs MaxConcurrentStreams of them, refuses the rest with
// REFUSED_STREAM, keeps answering another client, and when the connection
// drops leaves nothing behind.
func TestThousandsOfStreamsOnOneConnection(t *testing.T) {
	const limit, streams = 16, 3000
	e := newHostileEnv(t, func(o *reapi.Options) { o.MaxConcurrentStreams = limit })
	b := newBystander(t, e)
	baseline := e.quiescent(t)

	c := dialRawHTTP2(t, e.addr())
	var refused, otherResets atomic.Int64
	advertised := make(chan uint32, 1)
	c.readFrames(func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok && !f.IsAck() {
				advertised <- v
			}
		case *http2.RSTStreamFrame:
			if f.ErrCode == http2.ErrCodeRefusedStream {
				refused.Add(1)
			} else {
				otherResets.Add(1)
			}
		}
		return true
	})
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := range streams {
		block.Reset()
		for _, h := range [][2]string{
			{":method", "POST"}, {":scheme", "http"}, {":path", "/google.bytestream.ByteStream/Write"},
			{":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"},
		} {
			if err := enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]}); err != nil {
				t.Fatal(err)
			}
		}
		err := c.write(func(fr *http2.Framer) error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block.Bytes(), EndHeaders: true})
		})
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	select {
	case v := <-advertised:
		if v != limit {
			t.Errorf("server advertises SETTINGS_MAX_CONCURRENT_STREAMS %d, want %d", v, limit)
		}
	case <-time.After(time.Minute):
		t.Errorf("server advertised no SETTINGS_MAX_CONCURRENT_STREAMS")
	}
	waitFor(t, func() bool { return refused.Load() == streams-limit }, func() string {
		return fmt.Sprintf("%d of %d streams refused, want all but %d (%d other resets)", refused.Load(), streams, limit, otherResets.Load())
	})
	e.calls.waitActive(t, limit)
	for range 5 {
		b.check(t)
	}
	b.report(t, fmt.Sprintf("%d streams opened on one connection", streams))
	if n := otherResets.Load(); n != 0 {
		t.Errorf("%d streams reset other than REFUSED_STREAM", n)
	}
	if n := refused.Load(); n != streams-limit {
		t.Errorf("%d streams refused in the end, want %d", n, streams-limit)
	}

	c.close()
	e.assertNothingLeft(t, baseline)
}

// TestManyUploadsAcrossConnectionsAreCapped opens more uploads, over
// several connections, than MaxConcurrentUploads: the excess is refused at
// once with RESOURCE_EXHAUSTED, the rest stay open, other calls are
// served, and once the hostile client goes the kept uploads are collected
// and uploading works again.
func TestManyUploadsAcrossConnectionsAreCapped(t *testing.T) {
	const limit, conns, perConn = 32, 4, 20
	e := newHostileEnv(t, func(o *reapi.Options) {
		o.MaxConcurrentUploads = limit
		o.UploadIdleTimeout = 500 * time.Millisecond
	})
	b := newBystander(t, e)
	data := randomBytes(64<<10, 42)
	d := digest.OfBytes(data)
	baseline := e.quiescent(t)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ended := make(chan codes.Code, conns*perConn)
	var clients []*grpc.ClientConn
	for c := range conns {
		cc := e.dial(t)
		clients = append(clients, cc)
		bs := bspb.NewByteStreamClient(cc)
		for i := range perConn {
			s, err := bs.Write(ctx)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("uploads/hog%d-%d/blobs/%s", c, i, d)
			if err := s.Send(&bspb.WriteRequest{ResourceName: name, Data: data[:1000]}); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			go func() {
				var resp bspb.WriteResponse
				ended <- status.Code(s.RecvMsg(&resp))
			}()
		}
	}
	for range conns*perConn - limit {
		select {
		case c := <-ended:
			if c != codes.ResourceExhausted {
				t.Fatalf("an upload past the cap ended with %v, want RESOURCE_EXHAUSTED", c)
			}
		case <-time.After(time.Minute):
			t.Fatalf("uploads past the cap of %d were not refused", limit)
		}
	}
	e.calls.waitActive(t, limit)
	for range 5 {
		b.check(t)
	}
	b.report(t, fmt.Sprintf("%d uploads held open over %d connections", limit, conns))
	_, err := e.write(t.Context(), chunked("uploads/meanwhile/blobs/"+d.String(), data, 0, 16<<10)...)
	wantCode(t, err, codes.ResourceExhausted, "too many uploads")

	cancel()
	for range limit {
		if c := <-ended; c != codes.Canceled {
			t.Errorf("a held upload ended with %v when its client cancelled, want CANCELED", c)
		}
	}
	for _, cc := range clients {
		cc.Close()
	}
	e.assertNothingLeft(t, baseline)
	if _, err := e.write(t.Context(), chunked("uploads/after/blobs/"+d.String(), data, 0, 16<<10)...); err != nil {
		t.Fatalf("upload after the hostile client left: %v", err)
	}
	e.assertPresent(t, d, data)
}

// TestMessagesAtTheSizeLimitOverAndOver sends, over and over and in
// parallel, a batch whose blob fills the batch limit exactly (stored),
// batches just under the message size limit (refused by the handler) and
// just over it (refused by gRPC): another client is still served, and
// afterwards no goroutine, temp file or heap is left over.
func TestMessagesAtTheSizeLimitOverAndOver(t *testing.T) {
	const maxBatch = 1 << 20
	const recvLimit = 64 << 20 // ServerOptions: max(2 * maxBatch, 64 MiB)
	const rounds = 8
	e := newHostileEnv(t, func(o *reapi.Options) { o.MaxBatchTotalSizeBytes = maxBatch })
	b := newBystander(t, e)
	full := randomBytes(maxBatch, 9)
	fd := digest.OfBytes(full)
	baseline := e.quiescent(t)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	hostile := e.dial(t)
	cas := repb.NewContentAddressableStorageClient(hostile)
	// batchOf returns a batch of n entries of maxBatch bytes each, its
	// wire size just above n MiB.
	batchOf := func(n int) *repb.BatchUpdateBlobsRequest {
		req := &repb.BatchUpdateBlobsRequest{}
		for range n {
			req.Requests = append(req.Requests, &repb.BatchUpdateBlobsRequest_Request{Digest: fd.Proto(), Data: full})
		}
		return req
	}
	type attack struct {
		name string
		n    int
		want codes.Code
	}
	attacks := []attack{
		{"a batch of exactly the batch limit", 1, codes.OK},
		{"a message just under the receive limit", recvLimit/maxBatch - 1, codes.InvalidArgument},
		{"a message just over the receive limit", recvLimit/maxBatch + 1, codes.ResourceExhausted},
	}
	done := make(chan struct{})
	errs := make(chan error, len(attacks))
	for _, a := range attacks {
		go func() {
			for range rounds {
				resp, err := cas.BatchUpdateBlobs(t.Context(), batchOf(a.n))
				if got := status.Code(batchFailure(resp.GetResponses(), err)); got != a.want {
					errs <- fmt.Errorf("%s: got %v (%v), want %v", a.name, got, err, a.want)
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		for range attacks {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		close(done)
	}()
	b.until(t, done)
	b.report(t, "batches at the size limits sent over and over")
	e.assertPresent(t, fd, full)

	hostile.Close()
	e.assertNothingLeft(t, baseline)
	// Two collections: gRPC's buffer pools are sync.Pools, emptied over
	// two.
	runtime.GC()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use %d MiB before, %d MiB after (%d MiB received in all)", before.HeapInuse>>20, after.HeapInuse>>20, rounds*(1+2*recvLimit/maxBatch))
	if grew > 32<<20 {
		t.Errorf("heap in use grew by %d MiB after the attack, want it back near where it was", grew>>20)
	}
}

// TestStalledUploadsAreDropped opens uploads that stop delivering data in
// each way a client can (sending nothing at all, stopping after a chunk,
// trickling bytes and then stopping, sending only empty requests, a
// compressed upload stopping midway): each ends with DEADLINE_EXCEEDED
// after UploadStallTimeout without data, is dropped with its temp file
// rather than kept, and meanwhile other clients are served. Trickling
// keeps a stream alive: only silence ends it.
func TestStalledUploadsAreDropped(t *testing.T) {
	// Long enough that the trickling client's 10 ms gaps never approach it.
	const stall = 2 * time.Second
	e := newHostileEnv(t, func(o *reapi.Options) { o.UploadStallTimeout = stall })
	b := newBystander(t, e)
	data := randomBytes(256<<10, 11)
	d := digest.OfBytes(data)
	compressed := zstdCompress(t, data)
	baseline := e.quiescent(t)

	type stream = bspb.ByteStream_WriteClient
	send := func(s stream, req *bspb.WriteRequest) error {
		if err := s.Send(req); err != nil {
			var resp bspb.WriteResponse
			return fmt.Errorf("the server ended the stream early: %v", s.RecvMsg(&resp))
		}
		return nil
	}
	cases := []struct {
		name string
		// stall sends what the case sends before it goes silent.
		stall func(s stream, name string) error
	}{
		{"sends nothing", func(s stream, name string) error { return nil }},
		{"stops after a first chunk", func(s stream, name string) error {
			return send(s, &bspb.WriteRequest{ResourceName: name, Data: data[:1000]})
		}},
		{"trickles bytes, then stops", func(s stream, name string) error {
			if err := send(s, &bspb.WriteRequest{ResourceName: name, Data: data[:1000]}); err != nil {
				return err
			}
			start := time.Now()
			for off := 1000; time.Since(start) < 2*stall; off++ {
				if err := send(s, &bspb.WriteRequest{WriteOffset: int64(off), Data: data[off : off+1]}); err != nil {
					return fmt.Errorf("while trickling, after %v: %w", time.Since(start), err)
				}
				time.Sleep(10 * time.Millisecond) // the trickle's pace, not a synchronisation
			}
			return nil
		}},
		{"sends only empty requests", func(s stream, name string) error {
			if err := send(s, &bspb.WriteRequest{ResourceName: name, Data: data[:1000]}); err != nil {
				return err
			}
			// Until the server gives up on the stream, which Send sees as
			// io.EOF.
			for s.Send(&bspb.WriteRequest{WriteOffset: 1000}) == nil {
				time.Sleep(10 * time.Millisecond) // the pace of the empty requests
			}
			return nil
		}},
		{"compressed, stops midway", func(s stream, name string) error {
			return send(s, &bspb.WriteRequest{ResourceName: strings.Replace(name, "/blobs/", "/compressed-blobs/zstd/", 1), Data: compressed[:len(compressed)/2]})
		}},
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, tc := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.bs.Write(t.Context())
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				return
			}
			name := fmt.Sprintf("uploads/stall%d/blobs/%s", i, d)
			if err := tc.stall(s, name); err != nil {
				t.Errorf("%s: %v", tc.name, err)
				return
			}
			var resp bspb.WriteResponse
			err = s.RecvMsg(&resp)
			if st := status.Convert(err); st.Code() != codes.DeadlineExceeded || !strings.Contains(st.Message(), "no data for") {
				t.Errorf("%s: the stalled upload ended with %v %q, want DEADLINE_EXCEEDED (no data)", tc.name, st.Code(), st.Message())
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	b.until(t, done)
	b.report(t, "stalled and trickling uploads")
	for i := range cases {
		st, err := e.bs.QueryWriteStatus(t.Context(), &bspb.QueryWriteStatusRequest{ResourceName: fmt.Sprintf("uploads/stall%d/blobs/%s", i, d)})
		if err != nil || st.GetCommittedSize() != 0 {
			t.Errorf("QueryWriteStatus of stalled upload %d: %v, %v; want committed_size 0 (dropped)", i, st, err)
		}
	}
	e.assertNothingLeft(t, baseline)
	e.assertAbsent(t, d)
}

// TestDisconnectMidStream drops the TCP connection (a reset, no HTTP/2
// goodbye) while a plain and a compressed upload, a Read and an Execute
// are in flight, three times: the server notices, serves other clients
// meanwhile, and once the broken uploads kept for resumption expire
// nothing is left.
func TestDisconnectMidStream(t *testing.T) {
	e := newHostileEnv(t, func(o *reapi.Options) { o.UploadIdleTimeout = 500 * time.Millisecond })
	b := newBystander(t, e)
	big := e.put(t, randomBytes(32<<20, 5))
	data := randomBytes(256<<10, 6)
	d := digest.OfBytes(data)
	compressed := zstdCompress(t, data)
	sleep := e.putMessage(t, &repb.Action{
		CommandDigest:   e.putMessage(t, &repb.Command{Arguments: []string{"/bin/sleep", "1000"}}).Proto(),
		InputRootDigest: e.putMessage(t, &repb.Directory{}).Proto(),
	}).Proto()
	baseline := e.quiescent(t)

	for round := range 3 {
		var mu sync.Mutex
		var raw []net.Conn
		cc := e.dial(t, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err == nil {
				mu.Lock()
				raw = append(raw, c)
				mu.Unlock()
			}
			return c, err
		}))
		bs := bspb.NewByteStreamClient(cc)
		ctx := t.Context()
		for _, req := range []*bspb.WriteRequest{
			{ResourceName: fmt.Sprintf("uploads/drop%d/blobs/%s", round, d), Data: data[:100<<10]},
			{ResourceName: fmt.Sprintf("uploads/dropz%d/compressed-blobs/zstd/%s", round, d), Data: compressed[:len(compressed)/2]},
		} {
			w, err := bs.Write(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Send(req); err != nil {
				t.Fatal(err)
			}
		}
		r, err := bs.Read(ctx, &bspb.ReadRequest{ResourceName: "blobs/" + big.String()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Recv(); err != nil {
			t.Fatal(err)
		}
		x, err := repb.NewExecutionClient(cc).Execute(ctx, &repb.ExecuteRequest{ActionDigest: sleep, SkipCacheLookup: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.Recv(); err != nil {
			t.Fatal(err)
		}
		e.calls.waitActive(t, 4)
		b.check(t)

		mu.Lock()
		for _, c := range raw {
			_ = c.(*net.TCPConn).SetLinger(0) // close with a reset
			c.Close()
		}
		mu.Unlock()
		if _, err := r.Recv(); err == nil {
			// What was buffered may still arrive; the stream must fail.
			for err == nil {
				_, err = r.Recv()
			}
		}
		cc.Close()
		e.calls.waitActive(t, 0)
		b.check(t)
	}
	b.report(t, "clients disconnecting mid-stream")
	e.assertNothingLeft(t, baseline)
}
