package reapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// readChunkSize is the data carried by one ReadResponse: large enough that
// per-message costs vanish, small enough to stay far below message limits.
const readChunkSize = 1 << 20

var readBuffers = sync.Pool{New: func() any { b := make([]byte, readChunkSize); return &b }}

// byteStreamServer serves CAS blobs as ByteStream resources:
// {instance}/blobs/{hash}/{size} and
// {instance}/compressed-blobs/zstd/{hash}/{size} for reads,
// {instance}/uploads/{uuid}/... for writes.
type byteStreamServer struct {
	bspb.UnimplementedByteStreamServer
	logger  *slog.Logger
	store   Store
	uploads *uploadTable
	stall   time.Duration
	// writers holds a token per open Write stream, at most
	// Options.MaxConcurrentUploads.
	writers chan struct{}
}

func newByteStreamServer(opts Options, uploads *uploadTable) *byteStreamServer {
	return &byteStreamServer{
		logger:  opts.Logger,
		store:   opts.Store,
		uploads: uploads,
		stall:   opts.UploadStallTimeout,
		writers: make(chan struct{}, opts.MaxConcurrentUploads),
	}
}

func (s *byteStreamServer) Read(req *bspb.ReadRequest, stream bspb.ByteStream_ReadServer) error {
	ctx := stream.Context()
	rn, err := digest.ParseReadResourceName(req.GetResourceName())
	if err != nil {
		return err
	}
	d := rn.Digest
	offset, limit := req.GetReadOffset(), req.GetReadLimit()
	switch {
	case offset < 0:
		return rpcstatus.Newf(codes.OutOfRange, "read_offset %d is negative", offset)
	case offset > d.Size:
		return rpcstatus.Newf(codes.OutOfRange, "read_offset %d is past the end of blob %s", offset, d)
	case limit < 0:
		return rpcstatus.Newf(codes.InvalidArgument, "read_limit %d is negative", limit)
	case rn.Compressor == digest.Zstd && limit != 0:
		return rpcstatus.Newf(codes.InvalidArgument, "read_limit must be 0 for compressed-blobs reads, got %d", limit)
	}
	blob, err := s.store.Get(ctx, d)
	if err != nil {
		return rpcstatus.Wrapf(err, "read %s", d)
	}
	defer blob.Close()

	bufp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bufp)
	buf := *bufp

	if rn.Compressor == digest.Zstd {
		return s.readCompressed(ctx, stream, blob, d, offset, buf)
	}
	n := d.Size - offset
	if limit > 0 && limit < n {
		n = limit
	}
	for n > 0 {
		m := int64(len(buf))
		if m > n {
			m = n
		}
		got, err := blob.ReadAt(buf[:m], offset)
		if int64(got) < m {
			if err == nil || err == io.EOF {
				err = rpcstatus.Newf(codes.Internal, "blob is shorter than its digest says: %d bytes at offset %d", got, offset)
			}
			return rpcstatus.Wrapf(err, "read %s", d)
		}
		// A file changed on disk since Get verified it must not reach
		// the client as the blob's bytes: DATA_LOSS, and the blob is
		// dropped so that the client's retry uploads it again.
		if err := blob.Check(); err != nil {
			return rpcstatus.Wrapf(err, "read %s", d)
		}
		// grpc marshals the message before Send returns, so buf can be
		// reused for the next chunk.
		if err := stream.Send(&bspb.ReadResponse{Data: buf[:m]}); err != nil {
			return err
		}
		offset += m
		n -= m
	}
	return nil
}

// checkedReader reads r, a section of blob, and fails with Blob.Check's
// DATA_LOSS when the blob's file changed on disk since it was opened.
type checkedReader struct {
	blob *cas.Blob
	r    io.Reader
}

func (c checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if cerr := c.blob.Check(); cerr != nil {
		return 0, cerr
	}
	return n, err
}

// readCompressed streams the blob from offset as one zstd stream.
func (s *byteStreamServer) readCompressed(ctx context.Context, stream bspb.ByteStream_ReadServer, blob *cas.Blob, d digest.Digest, offset int64, buf []byte) error {
	cw := &chunkSender{stream: stream, buf: buf[:0]}
	enc, err := zstdCodecs.encoder(cw)
	if err != nil {
		return rpcstatus.Wrapf(err, "zstd encoder")
	}
	defer zstdCodecs.putEncoder(enc)
	if _, err := io.Copy(enc, checkedReader{blob, io.NewSectionReader(blob, offset, d.Size-offset)}); err != nil {
		enc.Close()
		if cw.err != nil {
			return cw.err
		}
		return rpcstatus.Wrapf(err, "read %s", d)
	}
	if err := enc.Close(); err != nil {
		if cw.err != nil {
			return cw.err
		}
		return rpcstatus.Wrapf(err, "compress %s", d)
	}
	return cw.flush()
}

// chunkSender gathers compressed output into ReadResponses of up to
// len(buf) bytes.
type chunkSender struct {
	stream bspb.ByteStream_ReadServer
	buf    []byte
	err    error
}

func (c *chunkSender) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n := len(p)
	for len(p) > 0 {
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf = c.buf[:len(c.buf)+k]
		p = p[k:]
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkSender) flush() error {
	if c.err != nil || len(c.buf) == 0 {
		return c.err
	}
	c.err = c.stream.Send(&bspb.ReadResponse{Data: c.buf})
	c.buf = c.buf[:0]
	return c.err
}

func (s *byteStreamServer) Write(stream bspb.ByteStream_WriteServer) error {
	select {
	case s.writers <- struct{}{}:
		defer func() { <-s.writers }()
	default:
		return rpcstatus.Newf(codes.ResourceExhausted, "too many uploads at once (%d); retry later", cap(s.writers))
	}
	r := newWriteReceiver(stream, s.stall)
	defer r.close()
	req, err := r.recv()
	if err == io.EOF {
		return rpcstatus.Newf(codes.InvalidArgument, "write stream carried no WriteRequest")
	}
	if err != nil {
		return err
	}
	rn, err := digest.ParseWriteResourceName(req.GetResourceName())
	if err != nil {
		return err
	}
	if rn.Compressor == digest.Zstd {
		return s.writeCompressed(stream, r, req, rn)
	}
	return s.writeIdentity(stream, r, req, rn)
}

// writeIdentity appends plain data to the upload for the resource name.
// The data goes straight from the request into the store's writer, which
// hashes as it writes; nothing is buffered here.
func (s *byteStreamServer) writeIdentity(stream bspb.ByteStream_WriteServer, r *writeReceiver, req *bspb.WriteRequest, rn digest.ResourceName) (err error) {
	ctx := stream.Context()
	name := req.GetResourceName()
	d := rn.Digest
	if s.store.Contains(ctx, d) {
		// The spec: end at once, reporting the full size however much the
		// client sent.
		return stream.SendAndClose(&bspb.WriteResponse{CommittedSize: d.Size})
	}
	u, err := s.uploads.acquire(ctx, name)
	if err != nil {
		return rpcstatus.Wrapf(err, "write %s", name)
	}
	// A broken stream keeps the upload for resumption; a refused or
	// finished one drops it so no partial data lingers.
	keep := false
	defer func() { s.uploads.release(u, keep) }()

	committed := u.committed.Load()
	if req.GetWriteOffset() == 0 && committed != 0 {
		// The client starts over rather than resuming.
		if err := u.w.Close(); err != nil {
			s.logger.Warn("closing restarted upload", slog.String("resource_name", name), slog.Any("error", err))
		}
		u.w = nil
		u.committed.Store(0)
		committed = 0
	}
	if u.w == nil {
		if u.w, err = s.store.NewWriter(ctx, d); err != nil {
			return rpcstatus.Wrapf(err, "write %s", name)
		}
	}
	for {
		if rn := req.GetResourceName(); rn != "" && rn != name {
			return rpcstatus.Newf(codes.InvalidArgument, "write %s: resource_name changed mid-stream to %q", name, rn)
		}
		data := req.GetData()
		switch off := req.GetWriteOffset(); {
		case off != committed:
			return rpcstatus.Newf(codes.InvalidArgument, "write %s: write_offset %d, want %d (writes must be contiguous)", name, off, committed)
		case committed+int64(len(data)) > d.Size:
			return rpcstatus.Newf(codes.InvalidArgument, "write %s: %d bytes at offset %d go past the declared size %d", name, len(data), committed, d.Size)
		}
		if len(data) > 0 {
			if _, err := u.w.Write(data); err != nil {
				return rpcstatus.Wrapf(err, "write %s", name)
			}
			committed += int64(len(data))
			u.committed.Store(committed)
		}
		if req.GetFinishWrite() {
			if committed != d.Size {
				return rpcstatus.Newf(codes.InvalidArgument, "write %s: finish_write after %d bytes, want %d", name, committed, d.Size)
			}
			if err := u.w.Commit(); err != nil {
				return rpcstatus.Wrapf(err, "write %s", name)
			}
			return stream.SendAndClose(&bspb.WriteResponse{CommittedSize: committed})
		}
		req, err = r.recv()
		if err == io.EOF {
			// Half-closed without finish_write: report progress and keep
			// the upload so the client can resume it.
			keep = true
			return stream.SendAndClose(&bspb.WriteResponse{CommittedSize: committed})
		}
		if err != nil {
			// A broken stream may resume; a stalled one is dropped, so
			// that a client cannot pin a temp file by stalling.
			keep = !r.stalled
			return rpcstatus.Wrapf(err, "write %s", name)
		}
	}
}

// writeCompressed decompresses a zstd upload as it arrives. Such uploads
// cannot be resumed: the spec mixes uncompressed and compressed offsets in
// a way that leaves no resumable position, so QueryWriteStatus reports 0 for
// them and a broken stream is dropped.
func (s *byteStreamServer) writeCompressed(stream bspb.ByteStream_WriteServer, r *writeReceiver, req *bspb.WriteRequest, rn digest.ResourceName) error {
	ctx := stream.Context()
	name := req.GetResourceName()
	d := rn.Digest
	if s.store.Contains(ctx, d) {
		return stream.SendAndClose(&bspb.WriteResponse{CommittedSize: -1})
	}
	if off := req.GetWriteOffset(); off != 0 {
		return rpcstatus.Newf(codes.InvalidArgument, "write %s: write_offset %d, want 0 (compressed uploads cannot be resumed)", name, off)
	}
	w, err := s.store.NewWriter(ctx, d)
	if err != nil {
		return rpcstatus.Wrapf(err, "write %s", name)
	}
	defer w.Close()

	src := &writeRequestReader{recv: r.recv, name: name, next: req}
	// The frame header tells how much memory the decoder will want, so it
	// is read first, however the client chunked it.
	header := make([]byte, zstd.HeaderMaxSize)
	n, err := io.ReadFull(src, header)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return src.err
	}
	header = header[:n]
	dec, release, err := zstdCodecs.streamDecoder(ctx, header, io.MultiReader(bytes.NewReader(header), src))
	if err != nil {
		return rpcstatus.Wrapf(err, "zstd decoder")
	}
	defer release()
	dst := &boundedWriter{w: w, limit: d.Size}
	if _, err := dec.WriteTo(dst); err != nil {
		switch {
		case src.err != nil:
			return src.err
		case dst.err != nil:
			return rpcstatus.Wrapf(dst.err, "write %s", name)
		}
		return rpcstatus.Newf(codes.InvalidArgument, "write %s: corrupt zstd stream: %v", name, err)
	}
	if !src.finished {
		// The decoder stopped at a frame boundary but the client sent more.
		return rpcstatus.Newf(codes.InvalidArgument, "write %s: data after the end of the zstd stream", name)
	}
	if dst.n != d.Size {
		return rpcstatus.Newf(codes.InvalidArgument, "write %s: zstd stream inflates to %d bytes, want %d", name, dst.n, d.Size)
	}
	if err := w.Commit(); err != nil {
		return rpcstatus.Wrapf(err, "write %s", name)
	}
	return stream.SendAndClose(&bspb.WriteResponse{CommittedSize: src.offset})
}

// writeRequestReader turns the requests of a Write stream into a byte
// stream, checking that offsets are contiguous (counted, as the spec says
// for compressed uploads, in compressed bytes after the first offset). It
// ends with io.EOF right after the request with finish_write.
type writeRequestReader struct {
	recv     func() (*bspb.WriteRequest, error)
	name     string
	next     *bspb.WriteRequest // received but not yet consumed
	data     []byte
	offset   int64
	finished bool
	err      error // the stream's own failure, as opposed to bad zstd data
}

func (r *writeRequestReader) Read(p []byte) (int, error) {
	for len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.finished {
			return 0, io.EOF
		}
		if r.next == nil {
			req, err := r.recv()
			if err == io.EOF {
				r.err = rpcstatus.Newf(codes.InvalidArgument, "write %s: stream ended without finish_write", r.name)
				continue
			}
			if err != nil {
				r.err = err
				continue
			}
			r.next = req
		}
		req := r.next
		r.next = nil
		if n := req.GetResourceName(); n != "" && n != r.name {
			r.err = rpcstatus.Newf(codes.InvalidArgument, "write %s: resource_name changed mid-stream to %q", r.name, n)
			continue
		}
		if off := req.GetWriteOffset(); off != r.offset {
			r.err = rpcstatus.Newf(codes.InvalidArgument, "write %s: write_offset %d, want %d (writes must be contiguous)", r.name, off, r.offset)
			continue
		}
		r.data = req.GetData()
		r.offset += int64(len(r.data))
		r.finished = req.GetFinishWrite()
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// boundedWriter refuses to write more than limit bytes in total, so a
// zstd stream cannot inflate past the size its digest declares.
type boundedWriter struct {
	w     io.Writer
	limit int64
	n     int64
	err   error
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if b.n+int64(len(p)) > b.limit {
		b.err = rpcstatus.Newf(codes.InvalidArgument, "zstd stream inflates beyond the declared size %d", b.limit)
		return 0, b.err
	}
	n, err := b.w.Write(p)
	b.n += int64(n)
	if err != nil {
		b.err = err
	}
	return n, err
}

func (s *byteStreamServer) QueryWriteStatus(ctx context.Context, req *bspb.QueryWriteStatusRequest) (*bspb.QueryWriteStatusResponse, error) {
	name := req.GetResourceName()
	rn, err := digest.ParseWriteResourceName(name)
	if err != nil {
		return nil, err
	}
	// A blob that is stored counts as complete, even when this upload did
	// not finish it.
	if s.store.Contains(ctx, rn.Digest) {
		size := rn.Digest.Size
		if rn.Compressor != digest.Identity {
			size = -1
		}
		return &bspb.QueryWriteStatusResponse{CommittedSize: size, Complete: true}, nil
	}
	if rn.Compressor == digest.Identity {
		if n, ok := s.uploads.committed(name); ok {
			return &bspb.QueryWriteStatusResponse{CommittedSize: n}, nil
		}
	}
	// The ByteStream spec says NOT_FOUND for a resource no Write reached,
	// but Bazel queries after any retriable Write failure and treats an
	// error other than UNIMPLEMENTED as fatal for the upload, while
	// committed_size 0 makes it start over, which is the right outcome.
	return &bspb.QueryWriteStatusResponse{}, nil
}
