package listener

import (
	"crypto/tls"
	"net"
	"time"
)

// HandshakeTimeout bounds a TLS handshake: a client that connects and then
// says nothing is cut off after it, instead of holding its connection (and,
// in serve-vm, a channel stream to the guest) for ever.
const HandshakeTimeout = 10 * time.Second

// Listen opens a TCP listener on address, whose connections speak TLS with
// cfg unless cfg is nil. The handshake happens on a connection's first
// read or write, in whichever goroutine serves it, so one slow client
// never holds up Accept; it must end within HandshakeTimeout.
func Listen(address string, cfg *tls.Config) (net.Listener, error) {
	return listen(address, cfg, HandshakeTimeout)
}

func listen(address string, cfg *tls.Config, timeout time.Duration) (net.Listener, error) {
	l, err := net.Listen("tcp", address)
	if err != nil || cfg == nil {
		return l, err
	}
	return &tlsListener{Listener: l, cfg: cfg, timeout: timeout}, nil
}
