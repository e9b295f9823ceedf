package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/actiond/actiond/go/daemon"
	"github.com/actiond/actiond/go/listener"
	"github.com/actiond/actiond/go/listener/listenertest"
)

// TestTLS serves a daemon with a client CA on loopback and calls it with
// and without a client certificate; the summary then speaks of grpcs://.
func TestTLS(t *testing.T) {
	ca := listenertest.NewCA(t, "actiond test CA")
	server := ca.Server(t)
	flags := listener.TLSFlags{Cert: server.CertFile, Key: server.KeyFile, ClientCA: ca.CertFile}
	cfg, err := flags.Config()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, daemon.Config{
		Root:    t.TempDir(),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		TLS:     cfg,
		TLSCert: server.CertFile,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- d.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	listenertest.CheckClientAuth(t, ca, lis.Addr().String())

	sum := d.Summary()
	if sum.TLS == nil || !sum.TLS.ClientAuth || sum.TLS.ServerCA != "" {
		t.Errorf("Summary().TLS = %+v, want client auth and no ServerCA (the server cert is not self-signed)", sum.TLS)
	}
}
