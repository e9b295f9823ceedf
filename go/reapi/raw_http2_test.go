package reapi_test

import (
	"io"
	"net"
	"sync"
	"testing"

	"golang.org/x/net/http2"
)

// rawHTTP2 is an HTTP/2 client connection driven frame by frame, for tests
// that misbehave below gRPC. It acknowledges the server's settings itself.
type rawHTTP2 struct {
	conn net.Conn
	mu   sync.Mutex // the framer is not safe for concurrent writes
	fr   *http2.Framer
}

// dialRawHTTP2 connects to addr, sends the preface and empty settings, and
// closes the connection when the test ends.
func dialRawHTTP2(t *testing.T, addr string) *rawHTTP2 {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &rawHTTP2{conn: conn, fr: http2.NewFramer(conn, conn)}
	if err := c.write(func(fr *http2.Framer) error { return fr.WriteSettings() }); err != nil {
		t.Fatal(err)
	}
	return c
}

// close drops the connection, as a client that goes away.
func (c *rawHTTP2) close() { c.conn.Close() }

// write runs f with the framer, alone.
func (c *rawHTTP2) write(f func(*http2.Framer) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f(c.fr)
}

// readFrames reads the server's frames on its own goroutine until the
// connection ends or handle returns false, acknowledging settings before
// handing them on.
func (c *rawHTTP2) readFrames(handle func(http2.Frame) bool) {
	go func() {
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				return
			}
			if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
				_ = c.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
			if !handle(f) {
				return
			}
		}
	}()
}
