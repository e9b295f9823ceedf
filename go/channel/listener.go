package channel

import (
	"fmt"
	"io"
	"net"

	"github.com/hashicorp/yamux"
)

// listener is the guest side of a session: each stream the host opens is an
// accepted connection.
type listener struct {
	session *yamux.Session
}

// Listen is the guest side: a net.Listener whose connections are the streams
// the host opens over conn. Closing the listener closes the session and conn.
// Accept returns an error wrapping net.ErrClosed once the session ends (host
// gone, conn EOF, keepalive unanswered): the guest takes that as "shut down".
// On error conn is left open.
func Listen(conn io.ReadWriteCloser) (net.Listener, error) {
	s, err := yamux.Server(conn, newConfig())
	if err != nil {
		return nil, fmt.Errorf("start channel session: %w", err)
	}
	return &listener{session: s}, nil
}

// Accept waits for the host to open a stream.
func (l *listener) Accept() (net.Conn, error) {
	for {
		st, err := l.session.AcceptStream()
		if err == nil {
			return &stream{Stream: st}, nil
		}
		if l.session.IsClosed() {
			return nil, fmt.Errorf("channel session ended: %w: %w", err, net.ErrClosed)
		}
		// Acknowledging the stream timed out on a congested session: that
		// stream is lost (its opener sees no answer), the session is not.
	}
}

// Close closes the session and the underlying conn.
func (l *listener) Close() error {
	return l.session.Close()
}

// Addr is the underlying conn's local address when it has one.
func (l *listener) Addr() net.Addr {
	return l.session.Addr()
}
