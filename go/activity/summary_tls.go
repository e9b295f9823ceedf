package activity

import (
	"crypto/tls"

	"github.com/actiond/actiond/go/listener"
)

// SummaryTLS is what a client needs to know of a TLS listener.
type SummaryTLS struct {
	// ServerCA is the file clients trust the server by (Bazel's
	// --tls_certificate): the server certificate itself when self-signed,
	// else empty, for the CA that signed it.
	ServerCA string
	// ClientAuth is whether clients need a certificate (--tls-client-ca).
	ClientAuth bool
}

// NewSummaryTLS describes a server speaking TLS with cfg, whose certificate
// came from certFile; nil when cfg is nil (plain gRPC).
func NewSummaryTLS(cfg *tls.Config, certFile string) *SummaryTLS {
	if cfg == nil {
		return nil
	}
	s := &SummaryTLS{ClientAuth: cfg.ClientAuth == tls.RequireAndVerifyClientCert}
	if listener.SelfSigned(cfg) {
		s.ServerCA = certFile
	}
	return s
}
