package channel

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// stream is a yamux stream with net.Conn's Close contract and a CloseWrite.
// A yamux Close only sends a FIN (a half-close) and leaves reads blocked until
// the peer closes too; here CloseWrite is that FIN, and Close also fails
// pending and later reads and writes with net.ErrClosed, so a gRPC transport
// that closes its connection sees its reader return.
type stream struct {
	*yamux.Stream
	closed atomic.Bool
}

// Read reads from the stream. An EOF caused by the end of the session rather
// than by the peer's half-close is reported as io.ErrUnexpectedEOF, so a
// truncated transfer is never taken for a complete one.
func (s *stream) Read(b []byte) (int, error) {
	if s.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := s.Stream.Read(b)
	switch {
	case err == nil:
	case s.closed.Load():
		err = net.ErrClosed
	case errors.Is(err, io.EOF) && s.Session().IsClosed():
		err = fmt.Errorf("channel session ended: %w", io.ErrUnexpectedEOF)
	}
	return n, err
}

// Write writes to the stream.
func (s *stream) Write(b []byte) (int, error) {
	if s.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := s.Stream.Write(b)
	if err != nil && s.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

// CloseWrite half-closes the stream: the peer reads EOF once it has read what
// was written, and this side can still read.
func (s *stream) CloseWrite() error {
	return s.Stream.Close()
}

// Close half-closes the stream and makes pending and later reads and writes
// fail. The stream's resources go when the peer closes its side too, or after
// the session's StreamCloseTimeout.
func (s *stream) Close() error {
	if s.closed.Swap(true) {
		return net.ErrClosed
	}
	err := s.Stream.Close()
	// yamux blocks on reads and writes with no regard to Close; a deadline in
	// the past is its only way to wake them.
	_ = s.Stream.SetDeadline(time.Now())
	return err
}
