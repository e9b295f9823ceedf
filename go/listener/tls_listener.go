package listener

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// tlsListener is tls.NewListener with a deadline on each handshake.
type tlsListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
}

// Accept implements net.Listener.
func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakingConn{Conn: tls.Server(c, l.cfg), timeout: l.timeout}, nil
}

// handshakingConn runs the TLS handshake, bounded, before the first read
// or write; a failed handshake fails every later call, and closes the
// connection.
type handshakingConn struct {
	*tls.Conn
	timeout time.Duration
	once    sync.Once
	err     error
}

func (c *handshakingConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		if c.err = c.Conn.HandshakeContext(ctx); c.err != nil {
			_ = c.Conn.Close()
		}
	})
	return c.err
}

// Read implements net.Conn.
func (c *handshakingConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// Write implements net.Conn.
func (c *handshakingConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
