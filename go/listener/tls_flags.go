package listener

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
)

// TLSFlags are the TLS flags of every command that serves gRPC to clients
// (serve, serve-vm).
type TLSFlags struct {
	// Cert and Key are the server's certificate chain and private key
	// (PEM files); both or neither.
	Cert, Key string
	// ClientCA is a PEM file of the CAs whose client certificates are
	// admitted; empty admits clients without certificates.
	ClientCA string
	// InsecureNoClientAuth allows a non-loopback address without ClientCA.
	InsecureNoClientAuth bool
}

// Register defines the flags on fs.
func (f *TLSFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Cert, "tls-cert", "", "server certificate `file` (PEM, with its chain); serves TLS, with --tls-key")
	fs.StringVar(&f.Key, "tls-key", "", "server private key `file` (PEM) for --tls-cert")
	fs.StringVar(&f.ClientCA, "tls-client-ca", "", "CA certificates `file` (PEM): only clients with a certificate it signed may connect")
	fs.BoolVar(&f.InsecureNoClientAuth, "insecure-no-client-auth", false, "let any client that reaches a non-loopback --listen run actions (TLS without client certificates)")
}

// Enabled reports whether the flags ask for TLS.
func (f TLSFlags) Enabled() bool { return f.Cert != "" }

// Validate checks that the flags are consistent and that listen (host:port)
// may be served with them: an address that is not loopback needs TLS and
// either a client CA or InsecureNoClientAuth. Its errors name the flags to
// add.
func (f TLSFlags) Validate(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %v", listen, err)
	}
	switch {
	case (f.Cert == "") != (f.Key == ""):
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	case f.ClientCA != "" && f.Cert == "":
		return errors.New("--tls-client-ca needs --tls-cert and --tls-key")
	case f.ClientCA != "" && f.InsecureNoClientAuth:
		return errors.New("give --tls-client-ca or --insecure-no-client-auth, not both")
	case f.InsecureNoClientAuth && f.Cert == "":
		return errors.New("--insecure-no-client-auth needs --tls-cert and --tls-key")
	}
	if IsLoopback(host) {
		return nil
	}
	where := fmt.Sprintf("--listen %s is not a loopback address, and anyone who reaches it can run actions", listen)
	if host == "" {
		where = fmt.Sprintf("--listen %s listens on every interface, and anyone who reaches it can run actions", listen)
	}
	switch {
	case f.Cert == "":
		return fmt.Errorf("%s: add --tls-cert=FILE --tls-key=FILE and --tls-client-ca=FILE (or --insecure-no-client-auth to admit clients without a certificate), or listen on 127.0.0.1", where)
	case f.ClientCA == "" && !f.InsecureNoClientAuth:
		return fmt.Errorf("%s: add --tls-client-ca=FILE to admit only clients with a certificate it signed, or --insecure-no-client-auth to admit any client", where)
	}
	return nil
}

// IsLoopback reports whether host (an IP address or a name, without port)
// is reachable from this machine only: a loopback IP or "localhost". Other
// names count as not loopback, since resolving them proves nothing about
// what they resolve to later.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Config loads the certificates into a server tls.Config; nil, nil when
// TLS is off. With a client CA, clients without a certificate it signed
// fail the handshake.
func (f TLSFlags) Config() (*tls.Config, error) {
	if !f.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.Cert, f.Key, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// gRPC clients require HTTP/2 by ALPN.
		NextProtos: []string{"h2"},
	}
	if f.ClientCA != "" {
		pem, err := os.ReadFile(f.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca %s: no PEM certificate in it", f.ClientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// SelfSigned reports whether the server certificate in cfg signed itself,
// so that clients can trust it as its own CA.
func SelfSigned(cfg *tls.Config) bool {
	if cfg == nil || len(cfg.Certificates) == 0 || cfg.Certificates[0].Leaf == nil {
		return false
	}
	leaf := cfg.Certificates[0].Leaf
	return bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignatureFrom(leaf) == nil
}
