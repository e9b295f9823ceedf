package guest

import (
	"io"
	"net"
	"sync"
	"time"
)

// SingleConnListen is a stand-in for a multiplexed session: the listener it
// returns yields conn itself as its one connection, then fails with
// net.ErrClosed once that connection is closed, as a session does when the
// host ends it. It carries one gRPC connection only; the real session
// (channel.Listen) carries many.
func SingleConnListen(conn io.ReadWriteCloser) (net.Listener, error) {
	l := &singleConnListener{closed: make(chan struct{})}
	l.conn = &streamConn{ReadWriteCloser: conn, onClose: l.close}
	l.pending = make(chan net.Conn, 1)
	l.pending <- l.conn
	return l, nil
}

type singleConnListener struct {
	conn    *streamConn
	pending chan net.Conn
	once    sync.Once
	closed  chan struct{}
}

func (l *singleConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.pending:
		return c, nil
	case <-l.closed:
		return nil, &net.OpError{Op: "accept", Net: "channel", Err: net.ErrClosed}
	}
}

func (l *singleConnListener) close() { l.once.Do(func() { close(l.closed) }) }

// Close ends the listener; the connection already accepted stays open.
func (l *singleConnListener) Close() error { l.close(); return nil }

func (l *singleConnListener) Addr() net.Addr { return channelAddr{} }

// streamConn is a byte stream as a net.Conn without deadlines.
type streamConn struct {
	io.ReadWriteCloser
	onClose func()
}

func (c *streamConn) Close() error {
	err := c.ReadWriteCloser.Close()
	c.onClose()
	return err
}

func (c *streamConn) LocalAddr() net.Addr              { return channelAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return channelAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

type channelAddr struct{}

func (channelAddr) Network() string { return "channel" }
func (channelAddr) String() string  { return "host-guest channel" }
