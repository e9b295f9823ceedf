package statuspage

import (
	"context"
	"net"
	"net/http"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/listener"
)

// securityHeaders refuses requests whose Host header names anything but a
// loopback address or localhost, so that a web page in the user's browser
// cannot read the status (and the actions' stderr) by rebinding a domain
// of its own to 127.0.0.1; and it forbids framing and outside resources.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "the status page answers only requests addressed to a loopback address or localhost", http.StatusMisdirectedRequest)
			return
		}
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if h.Get("Content-Security-Policy") == "" {
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost says host (host or host:port) is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return listener.IsLoopback(host)
}

// snapshot reads src's status within sourceTimeout.
func snapshot(ctx context.Context, src Source) (activity.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, sourceTimeout)
	defer cancel()
	return src.Snapshot(ctx)
}
