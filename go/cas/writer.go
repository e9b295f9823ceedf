package cas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// writeBufferSize batches small gRPC chunks (Bazel sends 16 KiB) into fewer
// write syscalls; larger writes bypass the buffer.
const writeBufferSize = 256 << 10

// maxReserveChunk caps how far a Writer's space reservation runs ahead of
// the bytes it has received. Reserving per chunk rather than per Write keeps
// a stream of 16 KiB writes from taking the store mutex for each one; the
// cap bounds what an upload that stalls can make the store evict.
const maxReserveChunk = 4 << 20

// reserveChunk is the reservation chunk of a store limited to max bytes:
// maxReserveChunk, but no more than a sixteenth of the store, so that in a
// small store one stalled upload cannot evict much of it either.
func reserveChunk(limit int64) int64 {
	return min(maxReserveChunk, max(limit/16, 1))
}

// Writer streams one blob into the store. Bytes are hashed as they arrive
// and go to a private temp file; Commit verifies and installs them. A Writer
// holds no context and is safe for use from several goroutines, so a
// ByteStream service can keep it open between the calls of a resumable
// upload. It must be closed: an open Writer holds a temp file and a space
// reservation (or, for a blob already stored, a pin).
//
// Space is reserved as bytes arrive, not for the declared size up front:
// a client declaring a large blob and sending nothing (hostile, or an
// upload abandoned and kept for resumption) must not make the store evict
// what it holds. A Write that goes past the reservation extends it to
// cover its bytes and some more, evicting least recently used blobs as
// needed. The bound: a Writer that has accepted n bytes has reserved at
// most n + min(n, chunk) (chunk is reserveChunk: 4 MiB, or MaxBytes/16 in
// a store under 64 MiB), so what it has made the store evict beyond its own
// bytes is less than one chunk and never more than it sent. Bytes stored
// plus bytes reserved stay within MaxBytes at all times, temp files
// included: what in-flight writes hold on disk is part of their
// reservation. The price is that a large upload can fail part way, with
// RESOURCE_EXHAUSTED from Write, when everything else is pinned or reserved
// by other writes.
type Writer struct {
	s *Store
	d digest.Digest
	k key

	mu        sync.Mutex
	t         *stagedFile // nil when the blob already exists: bytes are only hashed
	buf       []byte      // bytes accepted but not yet written to t, cap writeBufferSize
	h         hash.Hash
	n         int64
	existing  func()      // unpins the already stored blob
	entry     *entry      // the already stored blob
	res       reservation // space reserved: n plus at most min(chunk, n), never above d.Size
	err       error       // sticky failure
	done      bool        // committed or closed
	committed bool
	commitErr error
}

// NewWriter starts a streaming write of blob d. It fails with
// INVALID_ARGUMENT for a malformed digest and RESOURCE_EXHAUSTED when d.Size
// exceeds MaxBytes. It reserves no space and evicts nothing: Write does, as
// bytes arrive. If the store already holds d the Writer only hashes what it
// is given (to still reject wrong bytes) and keeps d pinned until it is
// closed.
func (s *Store) NewWriter(ctx context.Context, d digest.Digest) (*Writer, error) {
	k, err := validKey(d)
	if err != nil {
		return nil, err
	}
	w := &Writer{s: s, d: d, k: k, h: sha256.New(), res: reservation{s: s, d: d}}
	s.mu.Lock()
	if e, ok := s.lookupLocked(d); ok {
		s.pinLocked(e)
		s.mu.Unlock()
		w.existing = s.unpinFunc(e)
		w.entry = e
		return w, nil
	}
	s.mu.Unlock()
	// Refusing a blob that can never fit costs nothing; anything smaller
	// may fit by the time its bytes arrive.
	if d.Size > s.max {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "blob %s: %d bytes exceed the store's limit of %d bytes", d, d.Size, s.max)
	}
	t, err := s.createTemp()
	if err != nil {
		return nil, err
	}
	w.t = t
	if d.Size > 0 {
		w.buf = make([]byte, 0, int(min(d.Size, writeBufferSize)))
	}
	return w, nil
}

// Write appends p. Writing past the digest's size fails with
// INVALID_ARGUMENT and spoils the Writer. When the store cannot make room
// for p (everything it could evict is pinned or reserved by other writes)
// Write fails with RESOURCE_EXHAUSTED, accepting none of p; the Writer stays
// usable, so the write can be retried or the Writer closed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, rpcstatus.Newf(codes.FailedPrecondition, "blob %s: write after the writer was committed or closed", w.d)
	}
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > w.d.Size-w.n {
		w.err = rpcstatus.Newf(codes.InvalidArgument, "blob %s: writing %d bytes at offset %d goes past the declared size %d", w.d, len(p), w.n, w.d.Size)
		return 0, w.err
	}
	if err := w.reserveFor(int64(len(p))); err != nil {
		return 0, err
	}
	if w.t != nil {
		if err := w.buffer(p); err != nil {
			w.err = rpcstatus.Wrapf(err, "blob %s: writing temp file", w.d)
			return 0, w.err
		}
	}
	w.h.Write(p)
	w.n += int64(len(p))
	return len(p), nil
}

// buffer appends p to the temp file through w.buf: small writes are
// gathered, a write at least as large as the buffer goes straight to the
// file. w.mu is held.
func (w *Writer) buffer(p []byte) error {
	if len(w.buf)+len(p) <= cap(w.buf) {
		w.buf = append(w.buf, p...)
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	if len(p) >= cap(w.buf) {
		return w.s.writeFull(w.t.f, p)
	}
	w.buf = append(w.buf, p...)
	return nil
}

// flush writes w.buf to the temp file (see writeFull for a full disk).
// w.mu is held.
func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.s.writeFull(w.t.f, w.buf)
	w.buf = w.buf[:0]
	return err
}

// reserveFor makes sure the reservation covers n more bytes, reserving
// ahead of them by one chunk, or by as many bytes as the Writer will then
// have accepted if that is less (never beyond d.Size, which Commit's
// install uses up). The second limit makes the reservation grow by
// doubling at first, so that many uploads that each send a byte and stall
// cannot make the store evict a chunk apiece. A Writer of an already stored
// blob writes no file and reserves nothing. w.mu is held.
func (w *Writer) reserveFor(n int64) error {
	need := w.n + n
	if w.t == nil || need <= w.res.n {
		return nil
	}
	want := min(w.d.Size, need+min(w.s.chunk, need))
	return w.res.grow(want - w.res.n)
}

// Written returns the number of bytes accepted so far (the committed size of
// a resumable upload).
func (w *Writer) Written() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Digest returns the digest being written.
func (w *Writer) Digest() digest.Digest { return w.d }

// Commit verifies the bytes and stores the blob, returning once it is on
// disk. Wrong size or hash fails with INVALID_ARGUMENT and stores nothing.
// If the blob is already stored, Commit succeeds (once that copy is on
// disk). The Writer is finished afterwards either way; calling
// Commit again returns the same result.
func (w *Writer) Commit() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		if w.committed {
			return w.commitErr
		}
		return rpcstatus.Newf(codes.FailedPrecondition, "blob %s: commit after the writer was closed", w.d)
	}
	w.commitErr = w.commit()
	w.done = true
	w.committed = true
	return w.commitErr
}

func (w *Writer) commit() error {
	if w.err != nil {
		w.abort()
		return w.err
	}
	if w.n != w.d.Size {
		w.abort()
		return rpcstatus.Newf(codes.InvalidArgument, "blob %s: got %d bytes, want %d", w.d, w.n, w.d.Size)
	}
	got := digest.Digest{Hash: hex.EncodeToString(w.h.Sum(nil)), Size: w.n}
	if got != w.d {
		w.abort()
		return rpcstatus.Newf(codes.InvalidArgument, "uploaded data hashes to %s, want %s", got, w.d)
	}
	if w.t == nil {
		w.s.mu.Lock()
		still := w.s.index[w.k] == w.entry
		w.s.mu.Unlock()
		w.abort() // just unpins
		if !still {
			// Dropped as damaged while pinned: the bytes were not kept.
			return rpcstatus.Newf(codes.Aborted, "blob %s: stored copy was found damaged during the upload; upload it again", w.d)
		}
		// Commit has no context (a ByteStream upload may outlive the call
		// that finishes it); a flush always ends.
		return rpcstatus.Wrapf(w.s.awaitBlob(context.Background(), w.entry), "blob %s", w.d)
	}
	if err := w.flush(); err != nil {
		w.abort()
		return rpcstatus.Wrapf(err, "blob %s: writing temp file", w.d)
	}
	// Commit has no context (see above).
	return rpcstatus.Wrapf(w.s.commitBlob(context.Background(), w.t, &w.res, w.d, w.k), "blob %s", w.d)
}

// abort releases everything the Writer holds. w.mu is held.
func (w *Writer) abort() {
	if w.t != nil {
		w.t.discard()
	}
	w.res.Release()
	if w.existing != nil {
		w.existing()
		w.existing = nil
	}
}

// Close abandons an uncommitted write, deleting its temp file. After Commit
// it does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.abort()
		w.done = true
	}
	return nil
}
