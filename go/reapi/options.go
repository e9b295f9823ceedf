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
