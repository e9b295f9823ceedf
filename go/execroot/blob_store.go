package execroot

import (
	"context"

	"github.com/actiond/actiond/go/digest"
)

// BlobStore is the part of the content-addressed store that execroot uses.
// *cas.Store implements it; the interface is declared here, by its consumer,
// so that the package depends on behaviour rather than on the store's
// concrete type.
type BlobStore interface {
	// ReadAll returns a blob of at most limit bytes (Directory protos).
	// NOT_FOUND when absent.
	ReadAll(ctx context.Context, d digest.Digest, limit int64) ([]byte, error)
	// FindMissing returns the digests of ds that the store does not hold.
	FindMissing(ctx context.Context, ds []digest.Digest) []digest.Digest
	// Pin keeps d from eviction until unpin is called. NOT_FOUND when absent.
	Pin(ctx context.Context, d digest.Digest) (unpin func(), err error)
	// Path is the file holding d's bytes (mode 0444), a source for hard links.
	Path(d digest.Digest) string
	// FlushFailures counts the store's failed filesystem flushes: after
	// one, a variant LinkExecutables returned may have lost its bytes.
	FlushFailures() int64
	// LinkExecutables returns pinned 0555 variants of ds for hard links,
	// paths[i] "" (and unpins[i] nil) for a blob the store does not hold.
	LinkExecutables(ctx context.Context, ds []digest.Digest) (paths []string, unpins []func(), err error)
	// MoveFile hashes the file at path and stores it, consuming the file;
	// it copies the file instead if FlushFailures is no longer
	// failuresBefore, sampled before the file was written.
	MoveFile(ctx context.Context, path string, failuresBefore int64) (digest.Digest, error)
	// Put stores data, which must hash to d.
	Put(ctx context.Context, d digest.Digest, data []byte) error
}
