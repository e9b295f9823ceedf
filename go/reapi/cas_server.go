package reapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"
	"sync"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/klauspost/compress/zstd"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

const (
	// batchWorkers is how many entries of a batch are stored or read at
	// once. Storing a small blob is bound by the store's fsyncs, not CPU;
	// many in flight let the file system commit them together (measured:
	// 64 workers store 10,000 small blobs about twice as fast as 8).
	batchWorkers = 64
	// minCompressSize is the smallest blob BatchReadBlobs compresses; below
	// it the zstd frame overhead eats the gain.
	minCompressSize = 512
	// GetTree limits. A page holds at most maxTreePageSize directories and
	// about maxTreePageBytes of them; a tree may have at most
	// maxTreeDirectories distinct directories, each at most
	// maxDirectoryBytes.
	defaultTreePageSize = 1000
	maxTreePageSize     = 10000
	maxTreePageBytes    = 2 << 20
	maxTreeDirectories  = 1 << 20
	maxDirectoryBytes   = 64 << 20
)

// casServer serves ContentAddressableStorage from the Store. Instance
// names are accepted and ignored.
type casServer struct {
	repb.UnimplementedContentAddressableStorageServer
	logger   *slog.Logger
	store    Store
	maxBatch int64
}

func newCASServer(opts Options) *casServer {
	return &casServer{logger: opts.Logger, store: opts.Store, maxBatch: opts.MaxBatchTotalSizeBytes}
}

func (s *casServer) FindMissingBlobs(ctx context.Context, req *repb.FindMissingBlobsRequest) (*repb.FindMissingBlobsResponse, error) {
	if err := digest.CheckFunction(req.GetDigestFunction()); err != nil {
		return nil, err
	}
	ds := make([]digest.Digest, 0, len(req.GetBlobDigests()))
	for i, pd := range req.GetBlobDigests() {
		d, err := digest.FromProto(pd)
		if err != nil {
			return nil, rpcstatus.Wrapf(err, "blob_digests[%d]", i)
		}
		if d.IsEmpty() {
			continue // the spec: empty blobs are always present
		}
		ds = append(ds, d)
	}
	missing := s.store.FindMissing(ctx, ds)
	resp := &repb.FindMissingBlobsResponse{MissingBlobDigests: make([]*repb.Digest, len(missing))}
	for i, d := range missing {
		resp.MissingBlobDigests[i] = d.Proto()
	}
	return resp, nil
}

// checkBatchSize rejects a batch whose blobs' declared sizes sum above the
// advertised limit. Counting declared sizes bounds the memory compressed
// entries inflate to; the bytes actually sent are bounded by the gRPC
// receive limit, and a zstd frame of incompressible data is legitimately a
// little larger than the blob it holds.
func (s *casServer) checkBatchSize(ds []*repb.Digest) error {
	var total int64
	for _, pd := range ds {
		// Saturating: declared sizes are the client's word, and a sum that
		// wrapped around to a negative number would pass any limit.
		if sz := pd.GetSizeBytes(); sz > 0 {
			total += min(sz, math.MaxInt64-total)
		}
	}
	if total > s.maxBatch {
		return rpcstatus.Newf(codes.InvalidArgument, "batch of %d blobs declares %d bytes, above max_batch_total_size_bytes %d; use ByteStream for large blobs", len(ds), total, s.maxBatch)
	}
	return nil
}

func (s *casServer) BatchUpdateBlobs(ctx context.Context, req *repb.BatchUpdateBlobsRequest) (*repb.BatchUpdateBlobsResponse, error) {
	if err := digest.CheckFunction(req.GetDigestFunction()); err != nil {
		return nil, err
	}
	ds := make([]*repb.Digest, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		ds[i] = r.GetDigest()
	}
	if err := s.checkBatchSize(ds); err != nil {
		return nil, err
	}
	resp := &repb.BatchUpdateBlobsResponse{Responses: make([]*repb.BatchUpdateBlobsResponse_Response, len(req.GetRequests()))}
	parallel(len(req.GetRequests()), func(i int) {
		r := req.GetRequests()[i]
		resp.Responses[i] = &repb.BatchUpdateBlobsResponse_Response{
			Digest: r.GetDigest(),
			Status: statusProto(s.updateBlob(ctx, r)),
		}
	})
	return resp, nil
}

func (s *casServer) updateBlob(ctx context.Context, r *repb.BatchUpdateBlobsRequest_Request) error {
	d, err := digest.FromProto(r.GetDigest())
	if err != nil {
		return err
	}
	data := r.GetData()
	switch r.GetCompressor() {
	case repb.Compressor_IDENTITY:
	case repb.Compressor_ZSTD:
		if d.Size > s.maxBatch {
			// checkBatchSize bounds the sum; this keeps inflate's buffer
			// bounded even if it is bypassed.
			return rpcstatus.Newf(codes.InvalidArgument, "blob %s is larger than max_batch_total_size_bytes %d", d, s.maxBatch)
		}
		if data, err = inflate(data, d); err != nil {
			return err
		}
	default:
		return rpcstatus.Newf(codes.InvalidArgument, "blob %s: compressor %s is not supported (supported: ZSTD)", d, r.GetCompressor())
	}
	if int64(len(data)) != d.Size {
		return rpcstatus.Newf(codes.InvalidArgument, "blob %s: got %d bytes, want %d", d, len(data), d.Size)
	}
	if d.IsEmpty() {
		return nil
	}
	return rpcstatus.Wrapf(s.store.Put(ctx, d, data), "blob %s", d)
}

// inflate decompresses a zstd blob that must inflate to exactly d.Size
// bytes; it never allocates or produces more than that.
func inflate(data []byte, d digest.Digest) ([]byte, error) {
	dec, err := inflater()
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "zstd decoder")
	}
	out, err := dec.DecodeAll(data, make([]byte, 0, d.Size))
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return nil, rpcstatus.Newf(codes.InvalidArgument, "blob %s: zstd data inflates beyond the declared size %d", d, d.Size)
	case err != nil:
		return nil, rpcstatus.Newf(codes.InvalidArgument, "blob %s: corrupt zstd data: %v", d, err)
	case int64(len(out)) != d.Size:
		return nil, rpcstatus.Newf(codes.InvalidArgument, "blob %s: zstd data inflates to %d bytes, want %d", d, len(out), d.Size)
	}
	return out, nil
}

func (s *casServer) BatchReadBlobs(ctx context.Context, req *repb.BatchReadBlobsRequest) (*repb.BatchReadBlobsResponse, error) {
	if err := digest.CheckFunction(req.GetDigestFunction()); err != nil {
		return nil, err
	}
	if err := s.checkBatchSize(req.GetDigests()); err != nil {
		return nil, err
	}
	zstdOK := false
	for _, c := range req.GetAcceptableCompressors() {
		zstdOK = zstdOK || c == repb.Compressor_ZSTD
	}
	resp := &repb.BatchReadBlobsResponse{Responses: make([]*repb.BatchReadBlobsResponse_Response, len(req.GetDigests()))}
	parallel(len(req.GetDigests()), func(i int) {
		pd := req.GetDigests()[i]
		r := &repb.BatchReadBlobsResponse_Response{Digest: pd}
		resp.Responses[i] = r
		d, err := digest.FromProto(pd)
		if err != nil {
			r.Status = statusProto(err)
			return
		}
		data, err := s.readBlob(ctx, d)
		if err != nil {
			r.Status = statusProto(err)
			return
		}
		r.Data = data
		r.Status = statusProto(nil)
		if zstdOK && len(data) >= minCompressSize {
			if c, ok := deflateIfSmaller(data); ok {
				r.Data, r.Compressor = c, repb.Compressor_ZSTD
			}
		}
	})
	return resp, nil
}

func (s *casServer) readBlob(ctx context.Context, d digest.Digest) ([]byte, error) {
	if d.IsEmpty() {
		return []byte{}, nil
	}
	data, err := s.store.ReadAll(ctx, d, d.Size)
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "blob %s", d)
	}
	return data, nil
}

// deflateIfSmaller zstd-compresses data and reports whether that saved
// anything.
func deflateIfSmaller(data []byte) ([]byte, bool) {
	enc, err := zstdCodecs.encoder(nil)
	if err != nil {
		return nil, false
	}
	defer zstdCodecs.putEncoder(enc)
	c := enc.EncodeAll(data, make([]byte, 0, len(data)))
	return c, len(c) < len(data)
}

func (s *casServer) GetTree(req *repb.GetTreeRequest, stream repb.ContentAddressableStorage_GetTreeServer) error {
	ctx := stream.Context()
	if err := digest.CheckFunction(req.GetDigestFunction()); err != nil {
		return err
	}
	root, err := digest.FromProto(req.GetRootDigest())
	if err != nil {
		return rpcstatus.Wrapf(err, "root_digest")
	}
	pageSize := int(req.GetPageSize())
	if pageSize <= 0 {
		pageSize = defaultTreePageSize
	}
	pageSize = min(pageSize, maxTreePageSize)
	skip := 0
	if tok := req.GetPageToken(); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			return rpcstatus.Newf(codes.InvalidArgument, "page_token %q was not issued by this server", tok)
		}
		skip = n
	}

	// Breadth-first, children in listed order, each directory once: the
	// order is a function of the tree, so an index into it is a stable page
	// token.
	queue := []digest.Digest{root}
	seen := map[digest.Digest]bool{root: true}
	page := &repb.GetTreeResponse{}
	pageBytes := 0
	for index := 0; len(queue) > 0; index++ {
		d := queue[0]
		queue = queue[1:]
		dir, err := s.readDirectory(ctx, d)
		if err != nil {
			if rpcstatus.Code(err) == codes.NotFound && index > 0 {
				// The spec: return the part of the tree that is present.
				s.logger.DebugContext(ctx, "GetTree: directory missing", slog.String("root", root.String()), slog.String("directory", d.String()))
				continue
			}
			return err
		}
		for _, child := range dir.GetDirectories() {
			cd, err := digest.FromProto(child.GetDigest())
			if err != nil {
				return rpcstatus.Wrapf(err, "directory %s: subdirectory %q", d, child.GetName())
			}
			if !seen[cd] {
				if len(seen) >= maxTreeDirectories {
					return rpcstatus.Newf(codes.ResourceExhausted, "tree %s has more than %d directories", root, maxTreeDirectories)
				}
				seen[cd] = true
				queue = append(queue, cd)
			}
		}
		if index < skip {
			continue
		}
		page.Directories = append(page.Directories, dir)
		pageBytes += int(d.Size)
		if len(page.Directories) >= pageSize || pageBytes >= maxTreePageBytes {
			if len(queue) > 0 {
				page.NextPageToken = strconv.Itoa(index + 1)
			}
			if err := stream.Send(page); err != nil {
				return err
			}
			page, pageBytes = &repb.GetTreeResponse{}, 0
		}
	}
	if len(page.Directories) > 0 || skip == 0 {
		return stream.Send(page)
	}
	return nil
}

func (s *casServer) readDirectory(ctx context.Context, d digest.Digest) (*repb.Directory, error) {
	if d.Size > maxDirectoryBytes {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "directory %s is larger than %d bytes", d, maxDirectoryBytes)
	}
	data, err := s.readBlob(ctx, d)
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "directory")
	}
	dir := &repb.Directory{}
	if err := proto.Unmarshal(data, dir); err != nil {
		return nil, rpcstatus.Newf(codes.InvalidArgument, "directory %s is not a valid Directory proto: %v", d, err)
	}
	return dir, nil
}

// statusProto converts an error (nil meaning OK) into the per-entry status
// of a batch response, keeping its code and details.
func statusProto(err error) *spb.Status {
	if err == nil {
		return &spb.Status{}
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st.Proto()
	}
	return status.New(rpcstatus.Code(err), err.Error()).Proto()
}

// parallel calls fn(0..n-1) on up to batchWorkers goroutines. A panic in
// fn is raised again in the caller's goroutine once all workers are done,
// where the RecoveryInterceptor can turn it into an error for the call.
func parallel(n int, fn func(i int)) {
	workers := min(n, batchWorkers)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	var panicked sync.Once
	var first *repanicked
	defer func() {
		if first != nil {
			panic(*first)
		}
	}()
	defer wg.Wait()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					panicked.Do(func() { first = &repanicked{value: p, stack: debug.Stack()} })
					// Stop the other workers from taking more entries.
					next.Lock()
					i = n
					next.Unlock()
				}
			}()
			for {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= n {
					return
				}
				fn(j)
			}
		}()
	}
}
