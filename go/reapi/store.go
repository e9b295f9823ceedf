package reapi

import (
	"context"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
)

// Store is the part of the content-addressable store the services use.
// *cas.Store satisfies it; declaring it here keeps the services' needs
// visible and lets a wrapper (say, one counting calls) stand in.
type Store interface {
	// Contains reports whether the blob is present. The empty blob always is.
	Contains(ctx context.Context, d digest.Digest) bool
	// FindMissing returns the digests of ds that are not present.
	FindMissing(ctx context.Context, ds []digest.Digest) []digest.Digest
	// Get opens a blob for reading (NOT_FOUND when absent). The blob stays
	// readable until it is closed.
	Get(ctx context.Context, d digest.Digest) (*cas.Blob, error)
	// ReadAll returns a blob's bytes, RESOURCE_EXHAUSTED above limit bytes.
	ReadAll(ctx context.Context, d digest.Digest, limit int64) ([]byte, error)
	// Put stores data under d, INVALID_ARGUMENT when they do not match.
	Put(ctx context.Context, d digest.Digest, data []byte) error
	// NewWriter starts a streamed upload of d. The writer hashes as it
	// writes, verifies on Commit, aborts on Close before Commit, and stays
	// usable across the streams of a resumed upload.
	NewWriter(ctx context.Context, d digest.Digest) (*cas.Writer, error)
}

// ActionCache stores action results. *actioncache.Cache satisfies it.
type ActionCache interface {
	// Get returns the result for an action digest, NOT_FOUND when absent.
	Get(ctx context.Context, action digest.Digest) (*repb.ActionResult, error)
	// Put stores a result. FAILED_PRECONDITION (with a PreconditionFailure)
	// when blobs it references are missing.
	Put(ctx context.Context, action digest.Digest, result *repb.ActionResult) error
}
