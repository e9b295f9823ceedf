package cas

import (
	"context"
	"os"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// Blob is an open, pinned blob: it reads, seeks and reads at offsets, and
// keeps its digest from eviction until Close.
type Blob struct {
	f     *os.File
	size  int64
	unpin func()
	once  sync.Once
	err   error
	// s, e, d and stamp let Check tell whether the file changed since Get
	// verified it.
	s     *Store
	e     *entry
	d     digest.Digest
	stamp stamp
}

// Check reports DATA_LOSS if the blob's file was changed on disk since Get
// verified it, and then drops the blob, so that the client's next upload
// stores it again. A reader that has begun sending the blob calls it
// before each piece: a client that got a changed piece must be told.
func (b *Blob) Check() error {
	fi, err := b.f.Stat()
	if err != nil {
		return rpcstatus.Wrapf(err, "blob %s: stat", b.d)
	}
	if b.s.looksIntact(fi, b.size, b.stamp, blobMode) {
		return nil
	}
	b.s.forget(context.Background(), b.e, b.d, "its file was changed on disk while it was read")
	return rpcstatus.Newf(codes.DataLoss, "blob %s: its file was changed on disk while it was read", b.d)
}

// Read implements io.Reader.
func (b *Blob) Read(p []byte) (int, error) { return b.f.Read(p) }

// ReadAt implements io.ReaderAt.
func (b *Blob) ReadAt(p []byte, off int64) (int, error) { return b.f.ReadAt(p, off) }

// Seek implements io.Seeker.
func (b *Blob) Seek(offset int64, whence int) (int64, error) { return b.f.Seek(offset, whence) }

// Size returns the blob's size in bytes.
func (b *Blob) Size() int64 { return b.size }

// File returns the underlying read-only file, for sendfile-style copies. It
// stays owned by the Blob: do not close it.
func (b *Blob) File() *os.File { return b.f }

// Close closes the file and unpins the blob. Calling it again is harmless.
func (b *Blob) Close() error {
	b.once.Do(func() {
		b.err = b.f.Close()
		b.unpin()
	})
	return b.err
}
