package statuspage

import (
	"fmt"
	"net"
)

// Listen opens the metrics and status listener on addr, which must be a
// loopback address: the page shows every action's command and stderr, and
// it has no authentication.
func Listen(addr string) (net.Listener, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	return net.Listen("tcp", addr)
}

// CheckAddr says why addr cannot be the metrics and status listener's
// address, if it cannot.
func CheckAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen %q: want HOST:PORT, such as 127.0.0.1:9090: %w", addr, err)
	}
	if !loopbackHost(host) {
		return fmt.Errorf("--metrics-listen %q: the status page and metrics are served on loopback addresses only (127.0.0.1, ::1, localhost), because they show every action's command line and stderr to whoever connects", addr)
	}
	return nil
}
