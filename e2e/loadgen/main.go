// Command loadgen drives actiond the way e2e/load.sh needs: it uploads the
// static e2e/loadgen/loadaction binary once over ByteStream, then runs
// -actions distinct actions (each its own Command, so none is an action
// cache hit) with -concurrency at a time through the real gRPC API:
// FindMissingBlobs, BatchUpdateBlobs of the action's blobs, Execute, and a
// BatchReadBlobs of its stdout and output file. Every result is checked:
// status, exit code, stdout content and the output file's digest and
// content, as loadaction's contract predicts them from the arguments.
//
// It prints a human summary to stderr and one line to stdout for scripts:
//
//	actions=N seconds=S rate=R p50=MS p95=MS p99=MS max=MS
//
// where the latencies are each Execute's round trip (call to final
// response) as the client sees it, and rate counts whole actions (uploads
// and checks included) per second of wall time. It exits 1 on the first
// failed check.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/e2e/actionlog"
	"github.com/actiond/actiond/go/digest"
)

func main() {
	addr := flag.String("addr", "", "actiond `host:port`")
	tool := flag.String("tool", "", "the static loadaction `binary`")
	actions := flag.Int("actions", 10000, "how many actions to run")
	concurrency := flag.Int("concurrency", 32, "how many actions are in flight at once")
	tag := flag.String("tag", "", "a `word` that makes this run's actions differ from every other run's (default: the time)")
	timeout := flag.Duration("timeout", 2*time.Minute, "deadline of one action's calls")
	flag.Parse()
	if *addr == "" || *tool == "" || *actions < 1 || *concurrency < 1 {
		fmt.Fprintln(os.Stderr, "usage: loadgen -addr HOST:PORT -tool LOADACTION [-actions N] [-concurrency N] [-tag WORD]")
		os.Exit(2)
	}
	if *tag == "" {
		*tag = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if err := run(*addr, *tool, *tag, *actions, *concurrency, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: FAIL:", err)
		os.Exit(1)
	}
}

// client holds the service stubs of one connection.
type client struct {
	cas  repb.ContentAddressableStorageClient
	bs   bspb.ByteStreamClient
	exec repb.ExecutionClient
	tool digest.Digest
}

func run(addr, toolPath, tag string, n, concurrency int, timeout time.Duration) error {
	bin, err := os.ReadFile(toolPath)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return err
	}
	defer conn.Close()
	c := &client{
		cas:  repb.NewContentAddressableStorageClient(conn),
		bs:   bspb.NewByteStreamClient(conn),
		exec: repb.NewExecutionClient(conn),
		tool: digest.OfBytes(bin),
	}
	ctx := context.Background()
	if err := c.upload(ctx, tag, bin); err != nil {
		return fmt.Errorf("uploading loadaction: %w", err)
	}

	latencies := make([]float64, n)
	var next, done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				actx, cancel := context.WithTimeout(ctx, timeout)
				lat, err := c.action(actx, tag, i)
				cancel()
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("action %d: %w", i, err) })
					failed.Store(true)
					return
				}
				latencies[i] = float64(lat) / float64(time.Millisecond)
				if d := done.Add(1); d%1000 == 0 {
					fmt.Fprintf(os.Stderr, "loadgen: %d of %d actions done after %.1f s\n", d, n, time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	secs := time.Since(start).Seconds()
	p := func(q float64) float64 { return actionlog.Percentile(latencies, q) }
	fmt.Fprintf(os.Stderr, "loadgen: %d actions at concurrency %d in %.1f s (%.1f actions/s); Execute p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		n, concurrency, secs, float64(n)/secs, p(50), p(95), p(99), slices.Max(latencies))
	fmt.Printf("actions=%d seconds=%.2f rate=%.1f p50=%.1f p95=%.1f p99=%.1f max=%.1f\n",
		n, secs, float64(n)/secs, p(50), p(95), p(99), slices.Max(latencies))
	return nil
}

// upload writes the tool over ByteStream in 64 KiB chunks.
func (c *client) upload(ctx context.Context, tag string, bin []byte) error {
	const chunk = 64 << 10
	stream, err := c.bs.Write(ctx)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("uploads/loadgen-%s/blobs/%s", tag, c.tool)
	for off := 0; off < len(bin); off += chunk {
		end := min(off+chunk, len(bin))
		req := &bspb.WriteRequest{WriteOffset: int64(off), Data: bin[off:end], FinishWrite: end == len(bin)}
		if off == 0 {
			req.ResourceName = name
		}
		if err := stream.Send(req); err == io.EOF {
			break // the blob was there already; CloseAndRecv says so
		} else if err != nil {
			return err
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if resp.GetCommittedSize() != c.tool.Size {
		return fmt.Errorf("committed %d of %d bytes", resp.GetCommittedSize(), c.tool.Size)
	}
	return nil
}

// action runs action i of the run and checks its result; it returns the
// Execute round trip.
func (c *client) action(ctx context.Context, tag string, i int) (time.Duration, error) {
	in := []byte(fmt.Sprintf("load input %s %d %s\n", tag, i, bytes.Repeat([]byte{'a' + byte(i%26)}, i%100)))
	inD := digest.OfBytes(in)
	dir := marshal(&repb.Directory{Files: []*repb.FileNode{
		{Name: "in.txt", Digest: inD.Proto()},
		{Name: "tool", Digest: c.tool.Proto(), IsExecutable: true},
	}})
	cmd := marshal(&repb.Command{Arguments: []string{"./tool", tag, strconv.Itoa(i)}, OutputPaths: []string{"out.txt"}})
	act := marshal(&repb.Action{CommandDigest: digest.OfBytes(cmd).Proto(), InputRootDigest: digest.OfBytes(dir).Proto()})
	actD := digest.OfBytes(act)

	blobs := map[digest.Digest][]byte{inD: in, digest.OfBytes(dir): dir, digest.OfBytes(cmd): cmd, actD: act}
	var ds []*repb.Digest
	for d := range blobs {
		ds = append(ds, d.Proto())
	}
	missing, err := c.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: ds})
	if err != nil {
		return 0, fmt.Errorf("FindMissingBlobs: %w", err)
	}
	if len(missing.GetMissingBlobDigests()) != len(blobs) {
		return 0, fmt.Errorf("FindMissingBlobs: %d of the action's %d new blobs missing, want all", len(missing.GetMissingBlobDigests()), len(blobs))
	}
	var reqs []*repb.BatchUpdateBlobsRequest_Request
	for d, b := range blobs {
		reqs = append(reqs, &repb.BatchUpdateBlobsRequest_Request{Digest: d.Proto(), Data: b})
	}
	up, err := c.cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: reqs})
	if err != nil {
		return 0, fmt.Errorf("BatchUpdateBlobs: %w", err)
	}
	for _, r := range up.GetResponses() {
		if r.GetStatus().GetCode() != 0 {
			return 0, fmt.Errorf("BatchUpdateBlobs %s: %v", r.GetDigest(), r.GetStatus())
		}
	}

	start := time.Now()
	resp, err := c.execute(ctx, actD)
	lat := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.GetStatus().GetCode() != 0 {
		return 0, fmt.Errorf("Execute status %v", resp.GetStatus())
	}
	if resp.GetCachedResult() {
		return 0, fmt.Errorf("Execute answered from the action cache: the action was meant to be new")
	}
	res := resp.GetResult()
	wantExit := int32(0)
	if e := i % 7; e == 3 || e == 5 {
		wantExit = int32(e)
	}
	if res.GetExitCode() != wantExit {
		return 0, fmt.Errorf("exit code %d, want %d", res.GetExitCode(), wantExit)
	}
	wantStdout := []byte(fmt.Sprintf("loadaction %s %d read %d bytes\n", tag, i, len(in)))
	wantOut := append([]byte(strconv.Itoa(i)+":"), in...)
	slices.Reverse(wantOut[len(wantOut)-len(in):])
	outs := res.GetOutputFiles()
	if len(outs) != 1 || outs[0].GetPath() != "out.txt" {
		return 0, fmt.Errorf("output files %v, want out.txt only", outs)
	}
	if got, want := outs[0].GetDigest(), digest.OfBytes(wantOut); got.GetHash() != want.Hash || got.GetSizeBytes() != want.Size {
		return 0, fmt.Errorf("out.txt has digest %s/%d, want %s", got.GetHash(), got.GetSizeBytes(), want)
	}
	// Read the output back, and stdout unless it came inline.
	read := []*repb.Digest{outs[0].GetDigest()}
	stdout := res.GetStdoutRaw()
	if len(stdout) == 0 && res.GetStdoutDigest().GetSizeBytes() > 0 {
		read = append(read, res.GetStdoutDigest())
	}
	got, err := c.cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{Digests: read})
	if err != nil {
		return 0, fmt.Errorf("BatchReadBlobs: %w", err)
	}
	if len(got.GetResponses()) != len(read) {
		return 0, fmt.Errorf("BatchReadBlobs: %d responses for %d digests", len(got.GetResponses()), len(read))
	}
	for _, r := range got.GetResponses() {
		if r.GetStatus().GetCode() != 0 {
			return 0, fmt.Errorf("BatchReadBlobs %s: %v", r.GetDigest(), r.GetStatus())
		}
		switch r.GetDigest().GetHash() {
		case outs[0].GetDigest().GetHash():
			if !bytes.Equal(r.GetData(), wantOut) {
				return 0, fmt.Errorf("out.txt holds %q, want %q", r.GetData(), wantOut)
			}
		case res.GetStdoutDigest().GetHash():
			stdout = r.GetData()
		default:
			return 0, fmt.Errorf("BatchReadBlobs returned %s, which was not asked for", r.GetDigest())
		}
	}
	if !bytes.Equal(stdout, wantStdout) {
		return 0, fmt.Errorf("stdout %q, want %q", stdout, wantStdout)
	}
	return lat, nil
}

// execute runs Execute to its final response.
func (c *client) execute(ctx context.Context, action digest.Digest) (*repb.ExecuteResponse, error) {
	stream, err := c.exec.Execute(ctx, &repb.ExecuteRequest{ActionDigest: action.Proto()})
	if err != nil {
		return nil, fmt.Errorf("Execute: %w", err)
	}
	for {
		op, err := stream.Recv()
		if err == io.EOF {
			return nil, fmt.Errorf("Execute ended without a final response")
		}
		if err != nil {
			return nil, fmt.Errorf("Execute: %w", err)
		}
		if !op.GetDone() {
			continue
		}
		if op.GetError() != nil {
			return nil, fmt.Errorf("Execute: operation failed: %v", op.GetError())
		}
		resp := &repb.ExecuteResponse{}
		if err := op.GetResponse().UnmarshalTo(resp); err != nil {
			return nil, fmt.Errorf("Execute: %w", err)
		}
		return resp, nil
	}
}

func marshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}
