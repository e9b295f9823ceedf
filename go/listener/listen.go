package listener

import (
	"crypto/tls"
	"net"
)

// Listen opens a TCP listener on address, whose connections speak TLS with
// cfg unless cfg is nil. The handshake happens on a connection's first
// read or write, in whichever goroutine serves it, so one slow client
// never holds up Accept.
func Listen(address string, cfg *tls.Config) (net.Listener, error) {
	l, err := net.Listen("tcp", address)
	if err != nil || cfg == nil {
		return l, err
	}
	return tls.NewListener(l, cfg), nil
}
