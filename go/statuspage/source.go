package statuspage

import (
	"context"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/digest"
)

// Source is the daemon the page describes: local, or a VM guest reached
// over gRPC (statusrpc.Client).
type Source interface {
	Snapshot(ctx context.Context) (activity.Snapshot, error)
	// ReadBlob returns blob d, refusing blobs over limit bytes.
	ReadBlob(ctx context.Context, d digest.Digest, limit int64) ([]byte, error)
}
