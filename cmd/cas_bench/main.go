// Command cas_bench measures the REAPI storage services end to end: it
// opens a fresh cas.Store under -root, serves it with go/reapi on a
// loopback listener, and drives it with a real gRPC client.
//
// It uploads the -file (1 GiB in e2e/bench_cas.sh) with ByteStream.Write in
// -blob-size pieces, reads them back with ByteStream.Read, uploads -small
// blobs with BatchUpdateBlobs and looks them up with FindMissingBlobs. Given
// the seconds sha256sum and cp took on the same file (-sha256sum-seconds,
// -cp-seconds), it prints a Markdown table with throughput relative to
// sha256sum.
package main

import (
	"golang.org/x/sync/errgroup"
	"math"

	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/google/uuid"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi"
)

type config struct {
	root        string
	file        string
	blobSize    int64
	chunkSize   int
	parallel    int
	small       int
	shaSeconds  float64
	sslSeconds  float64
	cpSeconds   float64
	out         string
	findRepeats int
	cpuProfile  string
	// latencyBlobs is how many small blobs are written one at a time.
	latencyBlobs int
}

func main() {
	log.SetPrefix("cas_bench: ")
	log.SetFlags(0)
	var c config
	fs := flag.NewFlagSet("cas_bench", flag.ExitOnError)
	fs.StringVar(&c.root, "root", "", "fresh directory for the store (required; removed first)")
	fs.StringVar(&c.file, "file", "", "data file to upload and read back (required)")
	fs.Int64Var(&c.blobSize, "blob-size", 16<<20, "bytes per ByteStream blob")
	fs.IntVar(&c.chunkSize, "chunk-size", 1<<20, "bytes per WriteRequest")
	fs.IntVar(&c.parallel, "parallel", 2, "concurrent ByteStream calls")
	fs.IntVar(&c.small, "small", 10000, "number of small blobs for BatchUpdateBlobs and FindMissingBlobs")
	fs.IntVar(&c.latencyBlobs, "latency-blobs", 1000, "number of 1–64 KiB blobs written one at a time to time ByteStream.Write")
	fs.IntVar(&c.findRepeats, "find-repeats", 5, "FindMissingBlobs calls to time (the median is reported)")
	fs.Float64Var(&c.shaSeconds, "sha256sum-seconds", 0, "seconds sha256sum took on -file (0: omit the row)")
	fs.Float64Var(&c.sslSeconds, "openssl-seconds", 0, "seconds `openssl dgst -sha256` took on -file (0: omit the row)")
	fs.Float64Var(&c.cpSeconds, "cp-seconds", 0, "seconds cp took on -file (0: omit the row)")
	fs.StringVar(&c.out, "out", "", "also write the Markdown table to this file")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the ByteStream phases to this file")
	fs.Parse(os.Args[1:])
	if c.root == "" || c.file == "" {
		log.Fatal("-root and -file are required")
	}
	if c.blobSize <= 0 || c.chunkSize <= 0 || c.parallel <= 0 || c.small <= 0 || c.findRepeats <= 0 {
		log.Fatal("-blob-size, -chunk-size, -parallel, -small and -find-repeats must be positive")
	}
	if err := run(context.Background(), c); err != nil {
		log.Fatal(err)
	}
}

// row is one line of the result table.
type row struct {
	op, data string
	seconds  float64
	bytes    int64 // for MiB/s and the ratio to sha256sum; 0 for count rates
	count    int   // items per second when bytes is 0
	unit     string
}

func run(ctx context.Context, c config) error {
	if err := os.RemoveAll(c.root); err != nil {
		return err
	}
	if err := os.MkdirAll(c.root, 0o755); err != nil {
		return err
	}
	store, err := cas.Open(ctx, cas.Options{Root: c.root})
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer store.Close()
	opts := reapi.Options{Store: store, ActionCache: noActionCache{}}
	srv, err := reapi.NewServer(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	gs := grpc.NewServer(reapi.ServerOptions(opts)...)
	reapi.Register(gs, srv)
	go gs.Serve(lis)
	defer gs.Stop()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(16<<20),
		grpc.WithInitialConnWindowSize(64<<20),
		grpc.WithReadBufferSize(1<<20),
		grpc.WithWriteBufferSize(1<<20),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return err
	}
	defer conn.Close()
	bs := bspb.NewByteStreamClient(conn)
	casc := repb.NewContentAddressableStorageClient(conn)

	f, err := os.Open(c.file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	total := fi.Size()

	// The client knows its digests before uploading (Bazel has them from
	// its own action outputs), so hashing them is not part of the timing.
	log.Printf("hashing %d MiB of %s in %d MiB blobs", total>>20, c.file, c.blobSize>>20)
	blobs, err := digestPieces(f, total, c.blobSize)
	if err != nil {
		return err
	}

	var rows []row
	if c.shaSeconds > 0 {
		rows = append(rows, row{op: "sha256sum (coreutils), reference", data: human(total), seconds: c.shaSeconds, bytes: total})
	}
	if c.sslSeconds > 0 {
		rows = append(rows, row{op: "openssl dgst -sha256 (SHA-NI), stricter reference", data: human(total), seconds: c.sslSeconds, bytes: total})
	}
	if c.cpSeconds > 0 {
		rows = append(rows, row{op: "cp + fsync of the copy (same disk)", data: human(total), seconds: c.cpSeconds, bytes: total})
	}

	if c.cpuProfile != "" {
		pf, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
	}
	log.Printf("ByteStream.Write of %d blobs", len(blobs))
	start := time.Now()
	if err := forEach(len(blobs), c.parallel, func(i int) error { return upload(ctx, bs, f, blobs[i], c.chunkSize) }); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	rows = append(rows, row{op: fmt.Sprintf("ByteStream.Write, %d × %s blobs, %s chunks, %d streams", len(blobs), human(c.blobSize), human(int64(c.chunkSize)), c.parallel), data: human(total), seconds: time.Since(start).Seconds(), bytes: total})

	missing := store.FindMissing(ctx, digestsOf(blobs))
	if len(missing) != 0 {
		return fmt.Errorf("%d uploaded blobs missing from the store", len(missing))
	}

	log.Printf("ByteStream.Read of %d blobs", len(blobs))
	start = time.Now()
	if err := forEach(len(blobs), c.parallel, func(i int) error { return download(ctx, bs, blobs[i].d) }); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	rows = append(rows, row{op: fmt.Sprintf("ByteStream.Read, %d × %s blobs, %d streams", len(blobs), human(c.blobSize), c.parallel), data: human(total), seconds: time.Since(start).Seconds(), bytes: total})
	pprof.StopCPUProfile()

	// Small blobs: 100 to 2,000 bytes each, as many per batch as the
	// advertised limit allows.
	r := rand.New(rand.NewPCG(1, 2))

	// One ByteStream.Write at a time, as a client uploading an action's
	// inputs one by one sees it: the latency of each call.
	log.Printf("ByteStream.Write of %d blobs of 1–64 KiB, one at a time", c.latencyBlobs)
	var lat []float64
	var latBytes int64
	start = time.Now()
	for range c.latencyBlobs {
		b := make([]byte, 1024+r.IntN(63*1024+1))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		t := time.Now()
		if err := uploadBytes(ctx, bs, b); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		lat = append(lat, time.Since(t).Seconds()*1000)
		latBytes += int64(len(b))
	}
	sort.Float64s(lat)
	rows = append(rows, row{op: fmt.Sprintf("ByteStream.Write, %d blobs of 1–64 KiB one at a time: p50 %.2f ms, p95 %.2f ms", len(lat), percentile(lat, 50), percentile(lat, 95)),
		data: human(latBytes), seconds: time.Since(start).Seconds(), count: len(lat), unit: "blobs/s"})

	var small []*repb.BatchUpdateBlobsRequest_Request
	var smallBytes int64
	for i := 0; i < c.small; i++ {
		b := make([]byte, 100+r.IntN(1901))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		small = append(small, &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes(b).Proto(), Data: b})
		smallBytes += int64(len(b))
	}
	batches := splitBatches(small, reapi.DefaultMaxBatchTotalSizeBytes)
	log.Printf("BatchUpdateBlobs of %d small blobs in %d calls", len(small), len(batches))
	start = time.Now()
	for _, b := range batches {
		resp, err := casc.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: b})
		if err != nil {
			return fmt.Errorf("BatchUpdateBlobs: %w", err)
		}
		for _, r := range resp.Responses {
			if r.Status.GetCode() != 0 {
				return fmt.Errorf("BatchUpdateBlobs %v: %s", r.Digest, r.Status.GetMessage())
			}
		}
	}
	rows = append(rows, row{op: fmt.Sprintf("BatchUpdateBlobs, %d blobs of 100–2,000 B in %d calls", len(small), len(batches)), data: human(smallBytes), seconds: time.Since(start).Seconds(), count: len(small), unit: "blobs/s"})

	// FindMissingBlobs: half the digests present, half not.
	find := &repb.FindMissingBlobsRequest{}
	for i := 0; i < c.small; i++ {
		if i%2 == 0 {
			find.BlobDigests = append(find.BlobDigests, small[i].Digest)
		} else {
			find.BlobDigests = append(find.BlobDigests, digest.OfBytes([]byte(fmt.Sprint("absent ", i))).Proto())
		}
	}
	log.Printf("FindMissingBlobs of %d digests, %d times", len(find.BlobDigests), c.findRepeats)
	var times []float64
	for i := 0; i < c.findRepeats; i++ {
		start = time.Now()
		resp, err := casc.FindMissingBlobs(ctx, find)
		if err != nil {
			return fmt.Errorf("FindMissingBlobs: %w", err)
		}
		times = append(times, time.Since(start).Seconds())
		if want := c.small / 2; len(resp.MissingBlobDigests) != want {
			return fmt.Errorf("FindMissingBlobs reported %d missing, want %d", len(resp.MissingBlobDigests), want)
		}
	}
	sort.Float64s(times)
	rows = append(rows, row{op: fmt.Sprintf("FindMissingBlobs, %d digests (half present), median of %d calls", len(find.BlobDigests), c.findRepeats), data: human(int64(proto.Size(find))) + " request", seconds: times[len(times)/2], count: len(find.BlobDigests), unit: "digests/s"})

	table := render(rows, c.shaSeconds, c.sslSeconds, total)
	fmt.Print(table)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(table), 0o644); err != nil {
			return err
		}
	}
	return nil
}

type piece struct {
	d      digest.Digest
	offset int64
}

func digestPieces(f *os.File, total, size int64) ([]piece, error) {
	var pieces []piece
	for off := int64(0); off < total; off += size {
		n := min(size, total-off)
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, off, n)); err != nil {
			return nil, err
		}
		pieces = append(pieces, piece{d: digest.Digest{Hash: hex.EncodeToString(h.Sum(nil)), Size: n}, offset: off})
	}
	return pieces, nil
}

func digestsOf(ps []piece) []digest.Digest {
	ds := make([]digest.Digest, len(ps))
	for i, p := range ps {
		ds[i] = p.d
	}
	return ds
}

func upload(ctx context.Context, bs bspb.ByteStreamClient, f *os.File, p piece, chunk int) error {
	stream, err := bs.Write(ctx)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("uploads/%s/blobs/%s", uuid.NewString(), p.d)
	buf := make([]byte, chunk)
	for off := int64(0); off < p.d.Size; {
		n := min(int64(chunk), p.d.Size-off)
		if _, err := f.ReadAt(buf[:n], p.offset+off); err != nil {
			return err
		}
		req := &bspb.WriteRequest{WriteOffset: off, Data: buf[:n], FinishWrite: off+n == p.d.Size}
		if off == 0 {
			req.ResourceName = name
		}
		if err := stream.Send(req); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		off += n
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if resp.CommittedSize != p.d.Size {
		return fmt.Errorf("%s: committed_size %d", p.d, resp.CommittedSize)
	}
	return nil
}

// uploadBytes writes b with one ByteStream.Write of a single request.
func uploadBytes(ctx context.Context, bs bspb.ByteStreamClient, b []byte) error {
	d := digest.OfBytes(b)
	stream, err := bs.Write(ctx)
	if err != nil {
		return err
	}
	req := &bspb.WriteRequest{ResourceName: fmt.Sprintf("uploads/%s/blobs/%s", uuid.NewString(), d), Data: b, FinishWrite: true}
	if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if resp.CommittedSize != d.Size {
		return fmt.Errorf("%s: committed_size %d", d, resp.CommittedSize)
	}
	return nil
}

// percentile is the nearest-rank percentile p of the sorted values v.
func percentile(v []float64, p float64) float64 {
	k := int(math.Ceil(float64(len(v)) * p / 100))
	return v[max(k, 1)-1]
}

func download(ctx context.Context, bs bspb.ByteStreamClient, d digest.Digest) error {
	stream, err := bs.Read(ctx, &bspb.ReadRequest{ResourceName: "blobs/" + d.String()})
	if err != nil {
		return err
	}
	var n int64
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n += int64(len(resp.Data))
	}
	if n != d.Size {
		return fmt.Errorf("%s: read %d bytes", d, n)
	}
	return nil
}

// forEach runs fn(0..n-1) on up to workers goroutines, returning the first
// error; after an error no further fn is started.
func forEach(n, workers int, fn func(int) error) error {
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(workers)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		g.Go(func() error { return fn(i) })
	}
	return g.Wait()
}

func splitBatches(reqs []*repb.BatchUpdateBlobsRequest_Request, limit int64) [][]*repb.BatchUpdateBlobsRequest_Request {
	var out [][]*repb.BatchUpdateBlobsRequest_Request
	var cur []*repb.BatchUpdateBlobsRequest_Request
	var size int64
	for _, r := range reqs {
		if size+int64(len(r.Data)) > limit && len(cur) > 0 {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, r)
		size += int64(len(r.Data))
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func render(rows []row, shaSeconds, sslSeconds float64, total int64) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# CAS benchmark\n\n%s, %s, %d CPUs, %s, host %s", time.Now().UTC().Format(time.RFC3339), runtime.Version(), runtime.NumCPU(), runtime.GOARCH, host)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		// Other work on the machine skews every row; say how much there was.
		fmt.Fprintf(&b, ", load average %s", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	b.WriteString("\n\n| operation | data | time | rate | vs sha256sum | vs openssl sha256 |\n|---|---|---:|---:|---:|---:|\n")
	ratio := func(r row, ref float64) string {
		if r.bytes == 0 || ref <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", float64(r.bytes)/r.seconds/(float64(total)/ref))
	}
	for _, r := range rows {
		rate := fmt.Sprintf("%.0f %s", float64(r.count)/r.seconds, r.unit)
		if r.bytes > 0 {
			rate = fmt.Sprintf("%.0f MiB/s", float64(r.bytes)/(1<<20)/r.seconds)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.op, r.data, seconds(r.seconds), rate, ratio(r, shaSeconds), ratio(r, sslSeconds))
	}
	return b.String()
}

func seconds(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.1f ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// noActionCache stands in for the action cache, which this benchmark does
// not exercise.
type noActionCache struct{}

func (noActionCache) Get(ctx context.Context, d digest.Digest) (*repb.ActionResult, error) {
	return nil, errors.New("no action cache in cas_bench")
}

func (noActionCache) Put(ctx context.Context, d digest.Digest, r *repb.ActionResult) error {
	return errors.New("no action cache in cas_bench")
}
