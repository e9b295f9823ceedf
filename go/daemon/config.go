// Package daemon assembles actiond's gRPC server from its parts: the CAS, the
// action cache, the storage services and, when enabled, the executor.
// linux_actiond serve runs it on the host; it holds no Linux-only code
// outside execution_linux.go, so a daemon built for another system serves
// the cache and refuses execution.
package daemon

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"time"
)

// Config is everything the daemon needs; cmd/ fills it from flags.
type Config struct {
	// Root holds the CAS, the action cache and per-action work directories.
	Root string
	// MaxCASBytes bounds the CAS; zero means a share of the free disk.
	MaxCASBytes int64
	// Execution enables the Execution service; without it actiond is a
	// remote cache only.
	Execution bool
	// Jobs is how many actions run at once; zero means the number of CPUs.
	Jobs int
	// DefaultTimeout applies to actions without Action.timeout.
	DefaultTimeout time.Duration
	// RuntimeImage is a runtime SquashFS image to mount (or, rootless, to
	// unpack under Root); RuntimeDir is an already unpacked image. At most
	// one is set.
	RuntimeImage string
	RuntimeDir   string
	// AllowedProperties are exec property names accepted and ignored.
	AllowedProperties []string
	Logger            *slog.Logger
	// Version is the daemon's version, for the status page.
	Version string
	// StatusListener, when set, serves the status page and the metrics
	// (statuspage.Handler) while Serve runs; Serve closes it.
	StatusListener net.Listener
	// TLS, when set, makes the server speak TLS with it (see go/listener);
	// TLSCert is the file its certificate came from, for the summary.
	TLS     *tls.Config
	TLSCert string
	// Banner, when set, gets Summary.Text once Serve listens: the start-up
	// summary for a person reading a terminal.
	Banner io.Writer
	// Progress, when set, is a terminal that slow start-up work (unpacking
	// the runtime image in rootless mode) shows its progress on.
	Progress io.Writer
}
