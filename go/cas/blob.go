package cas

import (
	"os"
	"sync"
)

// Blob is an open, pinned blob: it reads, seeks and reads at offsets, and
// keeps its digest from eviction until Close.
type Blob struct {
	f     *os.File
	size  int64
	unpin func()
	once  sync.Once
	err   error
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
