package channel

import (
	"context"
	"io"
	"net"
)

// copyBufferSize is the size of each pump direction's buffer, and so the
// largest frame a pump writes to a stream.
const copyBufferSize = 256 << 10

// closeWriter is a connection that can be half-closed, like *net.TCPConn and
// *stream.
type closeWriter interface {
	CloseWrite() error
}

// lingerer is a connection that can be reset on Close, like *net.TCPConn.
type lingerer interface {
	SetLinger(sec int) error
}

// pump copies c to s and s to c until both directions have ended, then closes
// both. An EOF in one direction half-closes the other side, so the other
// direction goes on. An error in either direction, or ctx being done, closes
// both at once, which ends the other direction too; c is then reset rather
// than closed where it can be, so that its client cannot mistake a cut
// transfer for a complete one.
func pump(ctx context.Context, c net.Conn, s *stream) {
	abort := func() {
		if l, ok := c.(lingerer); ok {
			_ = l.SetLinger(0)
		}
		_ = c.Close()
		_ = s.Close()
	}
	errc := make(chan error, 2)
	go func() { errc <- copyHalf(s, c) }()
	go func() { errc <- copyHalf(c, s) }()
	done := ctx.Done()
	for pending := 2; pending > 0; {
		select {
		case err := <-errc:
			pending--
			if err != nil {
				abort()
			}
		case <-done:
			abort()
			done = nil
		}
	}
	_ = c.Close()
	_ = s.Close()
}

// copyHalf copies src to dst until src's EOF, then half-closes dst. A dst that
// cannot be half-closed is left open: its reader then sees the end when the
// whole connection closes.
func copyHalf(dst io.Writer, src io.Reader) error {
	// The wrappers hide ReadFrom and WriteTo: *net.TCPConn has both and would
	// copy in 32 KiB pieces, where larger stream frames are faster.
	buf := make([]byte, copyBufferSize)
	if _, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf); err != nil {
		return err
	}
	if cw, ok := dst.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return nil
}
