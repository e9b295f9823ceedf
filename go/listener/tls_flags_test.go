package listener_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/listener"
	"github.com/actiond/actiond/go/listener/listenertest"
)

func TestValidate(t *testing.T) {
	tlsOn := listener.TLSFlags{Cert: "c.pem", Key: "k.pem"}
	withCA := listener.TLSFlags{Cert: "c.pem", Key: "k.pem", ClientCA: "ca.pem"}
	insecure := listener.TLSFlags{Cert: "c.pem", Key: "k.pem", InsecureNoClientAuth: true}
	for _, tc := range []struct {
		name    string
		listen  string
		flags   listener.TLSFlags
		wantErr string // "" for none
	}{
		{"loopback in the clear", "127.0.0.1:8980", listener.TLSFlags{}, ""},
		{"loopback 127/8", "127.3.4.5:8980", listener.TLSFlags{}, ""},
		{"ipv6 loopback", "[::1]:8980", listener.TLSFlags{}, ""},
		{"localhost", "localhost:8980", listener.TLSFlags{}, ""},
		{"loopback with TLS", "127.0.0.1:8980", tlsOn, ""},
		{"all interfaces in the clear", ":8980", listener.TLSFlags{}, "listens on every interface"},
		{"0.0.0.0 in the clear", "0.0.0.0:8980", listener.TLSFlags{}, "add --tls-cert=FILE --tls-key=FILE and --tls-client-ca=FILE (or --insecure-no-client-auth"},
		{"a LAN address in the clear", "192.168.1.5:8980", listener.TLSFlags{}, "--listen 192.168.1.5:8980 is not a loopback address"},
		{"a name other than localhost", "build.example:8980", listener.TLSFlags{}, "not a loopback address"},
		{"TLS without client auth", "0.0.0.0:8980", tlsOn, "add --tls-client-ca=FILE to admit only clients with a certificate it signed, or --insecure-no-client-auth"},
		{"TLS with a client CA", "0.0.0.0:8980", withCA, ""},
		{"TLS, insecure on purpose", "[::]:8980", insecure, ""},
		{"cert without key", "127.0.0.1:8980", listener.TLSFlags{Cert: "c.pem"}, "--tls-cert and --tls-key go together"},
		{"key without cert", "127.0.0.1:8980", listener.TLSFlags{Key: "k.pem"}, "--tls-cert and --tls-key go together"},
		{"client CA without TLS", "127.0.0.1:8980", listener.TLSFlags{ClientCA: "ca.pem"}, "--tls-client-ca needs --tls-cert"},
		{"insecure without TLS", "0.0.0.0:8980", listener.TLSFlags{InsecureNoClientAuth: true}, "--insecure-no-client-auth needs --tls-cert"},
		{"client CA and insecure", "0.0.0.0:8980", listener.TLSFlags{Cert: "c", Key: "k", ClientCA: "ca", InsecureNoClientAuth: true}, "not both"},
		{"no port", "127.0.0.1", listener.TLSFlags{}, "--listen \"127.0.0.1\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.flags.Validate(tc.listen)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate(%q) = %v, want nil", tc.listen, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate(%q) = %v, want an error containing %q", tc.listen, err, tc.wantErr)
			}
		})
	}
}

// TestTLS serves the gRPC health service on a loopback TLS listener and
// calls it as clients with and without certificates.
func TestTLS(t *testing.T) {
	ca := listenertest.NewCA(t, "actiond test CA")
	other := listenertest.NewCA(t, "another CA")
	server := ca.Server(t)
	for _, tc := range []struct {
		name     string
		clientCA bool
		client   []tls.Certificate
		trust    *listenertest.CA
		wantOK   bool
	}{
		{name: "no client CA, no client cert", trust: ca, wantOK: true},
		{name: "client CA, client cert it signed", clientCA: true, client: []tls.Certificate{ca.Client(t).TLS}, trust: ca, wantOK: true},
		{name: "client CA, no client cert", clientCA: true, trust: ca},
		{name: "client CA, client cert of another CA", clientCA: true, client: []tls.Certificate{other.Client(t).TLS}, trust: ca},
		{name: "client does not trust the server", trust: other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flags := listener.TLSFlags{Cert: server.CertFile, Key: server.KeyFile}
			if tc.clientCA {
				flags.ClientCA = ca.CertFile
			}
			if err := flags.Validate("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			cfg, err := flags.Config()
			if err != nil {
				t.Fatal(err)
			}
			lis, err := listener.Listen("127.0.0.1:0", cfg)
			if err != nil {
				t.Fatal(err)
			}
			srv := grpc.NewServer()
			healthpb.RegisterHealthServer(srv, health.NewServer())
			go srv.Serve(lis)
			t.Cleanup(srv.Stop)

			creds := credentials.NewTLS(&tls.Config{RootCAs: tc.trust.Pool, Certificates: tc.client})
			conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
			if tc.wantOK && err != nil {
				t.Fatalf("Check: %v, want success", err)
			}
			if !tc.wantOK && status.Code(err) != codes.Unavailable {
				t.Fatalf("Check: %v, want UNAVAILABLE (handshake refused)", err)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	ca := listenertest.NewCA(t, "ca")
	server := ca.Server(t)
	for _, tc := range []struct {
		name    string
		flags   listener.TLSFlags
		wantErr string
	}{
		{"missing cert", listener.TLSFlags{Cert: "/nonexistent.pem", Key: server.KeyFile}, "--tls-cert /nonexistent.pem"},
		{"key of another cert", listener.TLSFlags{Cert: server.CertFile, Key: ca.Server(t).KeyFile}, "--tls-key"},
		{"client CA not PEM", listener.TLSFlags{Cert: server.CertFile, Key: server.KeyFile, ClientCA: server.KeyFile}, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.flags.Config()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Config() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSelfSigned(t *testing.T) {
	ca := listenertest.NewCA(t, "ca")
	server := ca.Server(t)
	for _, tc := range []struct {
		name string
		f    listener.TLSFlags
		want bool
	}{
		{"issued by a CA", listener.TLSFlags{Cert: server.CertFile, Key: server.KeyFile}, false},
		{"self-signed", listener.TLSFlags{Cert: ca.CertFile, Key: ca.KeyFile}, true},
	} {
		cfg, err := tc.f.Config()
		if err != nil {
			t.Fatal(err)
		}
		if got := listener.SelfSigned(cfg); got != tc.want {
			t.Errorf("%s: SelfSigned = %v, want %v", tc.name, got, tc.want)
		}
	}
}
