package statuspage_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/listener/listenertest"
	"github.com/actiond/actiond/go/statuspage"
	"github.com/actiond/actiond/go/statusrpc"
)

type snapshotProvider struct{ snap activity.Snapshot }

func (p snapshotProvider) Snapshot(context.Context) (activity.Snapshot, error) { return p.snap, nil }

// TestCommandOverTLS runs `status` against a daemon stand-in that requires
// client certificates: it needs the CA and a client certificate, and
// misused flags are refused before any connection.
func TestCommandOverTLS(t *testing.T) {
	ca := listenertest.NewCA(t, "actiond test CA")
	server, client := ca.Server(t), ca.Client(t)
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{server.TLS}, ClientCAs: ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})))
	statusrpc.Register(s, snapshotProvider{activity.Snapshot{Version: "tls-test", Mode: "linux sandbox"}}, prometheus.NewRegistry())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	addr := lis.Addr().String()

	tests := []struct {
		name string
		args []string
		exit int
		want string
	}{
		{"plain gRPC to a TLS daemon", nil, 1, "no daemon answered"},
		{"TLS without a client certificate", []string{"--tls-ca", ca.CertFile}, 1, "no daemon answered"},
		{"TLS with a client certificate", []string{"--tls-ca", ca.CertFile, "--tls-client-cert", client.CertFile, "--tls-client-key", client.KeyFile}, 0, "actiond tls-test, linux sandbox"},
		{"client certificate without its key", []string{"--tls-ca", ca.CertFile, "--tls-client-cert", client.CertFile}, 2, "together"},
		{"client certificate without a CA", []string{"--tls-client-cert", client.CertFile, "--tls-client-key", client.KeyFile}, 2, "needs --tls-ca"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			args := append([]string{"--addr", addr, "--timeout", "5s"}, tc.args...)
			if got := statuspage.Command("linux_actiond", args, &out, &errOut); got != tc.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", got, tc.exit, out.String(), errOut.String())
			}
			if !strings.Contains(out.String()+errOut.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s%s", tc.want, out.String(), errOut.String())
			}
		})
	}
}
