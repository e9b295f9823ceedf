package vm

import (
	"context"
	"io"
	"net"
)

// Session is the host end of the channel session on the stream
// Machine.Channel returns. go/channel's Host implements it; the interface
// is here so that this package and its tests do not depend on how the
// channel multiplexes.
type Session interface {
	// Dial opens one connection to the guest's server.
	Dial(ctx context.Context) (net.Conn, error)
	// Forward accepts connections on l and pumps each through its own
	// connection to the guest, until ctx is done or the session ends.
	Forward(ctx context.Context, l net.Listener) error
	// Done is closed when the session ended, by Close or by the guest.
	Done() <-chan struct{}
	// Close ends the session; the guest takes that as a request to shut
	// down.
	Close() error
}

// NewSessionFunc starts a session over a channel stream.
type NewSessionFunc func(conn io.ReadWriteCloser) (Session, error)
