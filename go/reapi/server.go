package reapi

import (
	"errors"
	"io"
	"log/slog"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Server holds the storage services. Register them on a grpc.Server with
// Register, and Close the Server after the grpc.Server has stopped.
type Server struct {
	opts         Options
	uploads      *uploadTable
	capabilities *capabilitiesServer
	cas          *casServer
	byteStream   *byteStreamServer
	actionCache  *actionCacheServer
}

// NewServer checks opts, fills in defaults and builds the services. It
// starts the collector of abandoned uploads, which Close stops.
func NewServer(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("reapi: Options.Store is required")
	}
	if opts.ActionCache == nil {
		return nil, errors.New("reapi: Options.ActionCache is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.MaxBatchTotalSizeBytes <= 0 {
		opts.MaxBatchTotalSizeBytes = DefaultMaxBatchTotalSizeBytes
	}
	if opts.UploadIdleTimeout <= 0 {
		opts.UploadIdleTimeout = DefaultUploadIdleTimeout
	}
	if opts.MaxKeptUploads <= 0 {
		opts.MaxKeptUploads = DefaultMaxKeptUploads
	}
	if opts.UploadStallTimeout <= 0 {
		opts.UploadStallTimeout = DefaultUploadStallTimeout
	}
	if opts.MaxConcurrentUploads <= 0 {
		opts.MaxConcurrentUploads = DefaultMaxConcurrentUploads
	}
	switch {
	case opts.InlineBudgetBytes == 0:
		opts.InlineBudgetBytes = DefaultInlineBudgetBytes
	case opts.InlineBudgetBytes < 0:
		opts.InlineBudgetBytes = 0
	}
	uploads := newUploadTable(opts.Logger, opts.UploadIdleTimeout, opts.MaxKeptUploads)
	return &Server{
		opts:         opts,
		uploads:      uploads,
		capabilities: newCapabilitiesServer(opts),
		cas:          newCASServer(opts),
		byteStream:   newByteStreamServer(opts, uploads),
		actionCache:  newActionCacheServer(opts),
	}, nil
}

// Register registers Capabilities, ContentAddressableStorage, ByteStream and
// ActionCache on r.
func Register(r *grpc.Server, s *Server) {
	repb.RegisterCapabilitiesServer(r, s.capabilities)
	repb.RegisterContentAddressableStorageServer(r, s.cas)
	bspb.RegisterByteStreamServer(r, s.byteStream)
	repb.RegisterActionCacheServer(r, s.actionCache)
}

// Close stops collecting abandoned uploads and aborts those still kept.
// Call it after the grpc.Server has stopped.
func (s *Server) Close() {
	s.uploads.close()
}

// PendingUploads reports how many incomplete ByteStream uploads are kept
// for resumption.
func (s *Server) PendingUploads() int {
	return s.uploads.len()
}

// ServerOptions returns the grpc.ServerOptions the services need: a receive
// limit that admits a full batch plus its framing (so an oversized batch
// gets the spec's INVALID_ARGUMENT, not a transport error), and flow-control
// windows and buffers sized for streaming large blobs over a fast local
// link; a cap on the calls open at once on one connection
// (MaxConcurrentStreams); keepalive settings that admit client pings every KeepaliveMinTime
// and find dead peers; the RecoveryInterceptor; with LogRPCs, the
// LoggingInterceptor too. Zero MaxBatchTotalSizeBytes, KeepaliveMinTime and
// MaxConcurrentStreams mean the defaults.
func ServerOptions(opts Options) []grpc.ServerOption {
	maxBatch := opts.MaxBatchTotalSizeBytes
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatchTotalSizeBytes
	}
	minPing := opts.KeepaliveMinTime
	if minPing <= 0 {
		minPing = DefaultKeepaliveMinTime
	}
	maxStreams := opts.MaxConcurrentStreams
	if maxStreams == 0 {
		maxStreams = DefaultMaxConcurrentStreams
	}
	// Recovery first, so that it also catches panics in the logging.
	so := NewRecoveryInterceptor(opts.Logger).ServerOptions()
	if opts.LogRPCs && opts.Logger != nil {
		so = append(so, NewLoggingInterceptor(opts.Logger).ServerOptions()...)
	}
	return append(so,
		// Clients such as Bazel with --grpc_keepalive_time=30s ping while
		// they wait on a long Execute; grpc-go's default policy answers
		// pings more often than every 5 minutes with GOAWAY too_many_pings,
		// cutting every call on the connection.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minPing, PermitWithoutStream: true}),
		// Pinging idle clients finds connections whose peer vanished without
		// a reset, so that their Execute waiters and upload slots are
		// released within a minute or two rather than after TCP gives up.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		// grpc-go's default admits any number of streams per connection:
		// one client opening them by the thousand would get a goroutine
		// and buffers for each.
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.MaxRecvMsgSize(int(max(2*maxBatch, 64<<20))),
		grpc.InitialWindowSize(16<<20),
		grpc.InitialConnWindowSize(64<<20),
		grpc.ReadBufferSize(1<<20),
		grpc.WriteBufferSize(1<<20),
	)
}
