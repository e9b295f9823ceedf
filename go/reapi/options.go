package reapi

import (
	"log/slog"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxBatchTotalSizeBytes = 4 << 20
	DefaultUploadIdleTimeout      = 10 * time.Minute
	DefaultInlineBudgetBytes      = 1 << 20
	DefaultMaxKeptUploads         = 1000
	DefaultUploadStallTimeout     = time.Minute
	DefaultMaxConcurrentUploads   = 1000
	DefaultMaxConcurrentStreams   = 1000
	// DefaultKeepaliveMinTime is the shortest client ping interval grpc-go
	// clients may set, so no client is refused for pinging too often.
	DefaultKeepaliveMinTime = 10 * time.Second
)

// Options configures the storage services.
type Options struct {
	// Logger receives debug and warning records. Nil discards them.
	Logger *slog.Logger
	// Store is the CAS behind ContentAddressableStorage and ByteStream.
	// Required.
	Store Store
	// ActionCache is the cache behind the ActionCache service. Required.
	ActionCache ActionCache
	// MaxBatchTotalSizeBytes caps the summed blob sizes of one
	// BatchUpdateBlobs or BatchReadBlobs call and is advertised in the
	// capabilities. Zero means DefaultMaxBatchTotalSizeBytes.
	MaxBatchTotalSizeBytes int64
	// ExecutionEnabled makes Capabilities advertise remote execution. The
	// Execution service itself is registered by its own package.
	ExecutionEnabled bool
	// UploadIdleTimeout is how long an incomplete ByteStream upload is kept
	// for resumption after its last write. Zero means
	// DefaultUploadIdleTimeout.
	UploadIdleTimeout time.Duration
	// MaxKeptUploads caps the incomplete ByteStream uploads kept for
	// resumption. Each holds an open temp file and a CAS space reservation
	// that grows as its bytes arrive (cas.Writer reserves at most a chunk
	// ahead of what it has accepted), so a client opening uploads and
	// abandoning them could otherwise exhaust file descriptors and evict
	// much of the CAS; past the cap the least recently used idle ones are
	// dropped (their clients start over, as after the idle timeout). Zero
	// means DefaultMaxKeptUploads.
	MaxKeptUploads int
	// UploadStallTimeout ends a ByteStream Write stream whose client,
	// while the server waits for it, delivers no data for this long (empty
	// requests do not count; time the server spends on its side does not
	// either) with DEADLINE_EXCEEDED, and drops its upload, temp file and
	// all, rather than keeping it for resumption: a client
	// that opens an upload and stops sending, or sends nothing at all,
	// would otherwise hold an upload slot, a temp file and a CAS
	// reservation until its connection dies, which keepalive never
	// notices while the peer answers pings. A client that trickles data
	// keeps its stream but holds only one of MaxConcurrentUploads. Zero
	// means DefaultUploadStallTimeout.
	UploadStallTimeout time.Duration
	// MaxConcurrentUploads caps the ByteStream Write streams open at once,
	// over all connections; past it Write fails at once with
	// RESOURCE_EXHAUSTED, which clients such as Bazel retry with backoff.
	// Each open upload holds a goroutine, a temp file and a CAS
	// reservation, so clients opening uploads by the thousand would
	// otherwise run the daemon out of file descriptors. Zero means
	// DefaultMaxConcurrentUploads.
	MaxConcurrentUploads int
	// MaxConcurrentStreams is the HTTP/2 limit ServerOptions sets on the
	// calls one connection may have open at once (the server refuses the
	// excess streams; gRPC clients queue them until one ends). Zero means
	// DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
	// LogRPCs makes ServerOptions add the LoggingInterceptor, logging every
	// call to Logger at debug level.
	LogRPCs bool
	// InlineBudgetBytes caps the bytes GetActionResult inlines (stdout,
	// stderr and output files together). Zero means
	// DefaultInlineBudgetBytes; negative disables inlining.
	InlineBudgetBytes int64
	// KeepaliveMinTime is the shortest interval between client pings that
	// ServerOptions accepts; clients pinging more often get GOAWAY
	// too_many_pings, which fails every call on the connection. Zero means
	// DefaultKeepaliveMinTime.
	KeepaliveMinTime time.Duration
}
