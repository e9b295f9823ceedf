package channel

import (
	"io"
	"time"

	"github.com/hashicorp/yamux"
)

// maxStreamWindow is the most a stream may have in flight without an
// acknowledgement. REAPI moves blobs of hundreds of MiB over a stream with a
// round trip through a virtual device, so the window is far above yamux's
// 256 KiB default; the receiver buffers at most this much per stream.
const maxStreamWindow = 16 << 20

// keepAliveInterval is how often each side pings, and writeTimeout how long
// a ping may go unanswered and a frame wait to be written; variables only so
// that tests can shorten them.
var (
	keepAliveInterval = 30 * time.Second
	writeTimeout      = 30 * time.Second
)

// newConfig returns the yamux configuration both sides use. Keepalive is on so
// that a peer that stops answering (a hung guest) ends the session: a ping
// unanswered within ConnectionWriteTimeout does. Streams have no open timeout:
// a stream waits for the guest to accept it, however slow the guest is to
// start serving, since a dead guest is noticed by keepalive or EOF instead.
// A stream closed on one side whose peer does not close its side within
// StreamCloseTimeout is reset, which bounds what a misbehaving peer can pin;
// a client that half-closes must get its whole answer within that time.
// yamux logs nothing: whatever matters reaches the caller as an error.
func newConfig() *yamux.Config {
	return &yamux.Config{
		AcceptBacklog:          256,
		EnableKeepAlive:        true,
		KeepAliveInterval:      keepAliveInterval,
		ConnectionWriteTimeout: writeTimeout,
		MaxStreamWindowSize:    maxStreamWindow,
		StreamOpenTimeout:      0,
		StreamCloseTimeout:     5 * time.Minute,
		LogOutput:              io.Discard,
	}
}
