package listenertest

import (
	"context"
	"crypto/tls"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// CheckClientAuth calls GetCapabilities on the REAPI server at addr, which
// must speak TLS with a certificate ca signed and require client
// certificates ca signed: as a client with such a certificate (which must
// succeed), without one and with another CA's (which must fail the
// handshake).
func CheckClientAuth(t *testing.T, ca *CA, addr string) {
	t.Helper()
	for _, tc := range []struct {
		name   string
		certs  []tls.Certificate
		wantOK bool
	}{
		{"client certificate signed by the CA", []tls.Certificate{ca.Client(t).TLS}, true},
		{"no client certificate", nil, false},
		{"client certificate of another CA", []tls.Certificate{NewCA(t, "other").Client(t).TLS}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds := credentials.NewTLS(&tls.Config{RootCAs: ca.Pool, Certificates: tc.certs})
			conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = repb.NewCapabilitiesClient(conn).GetCapabilities(context.Background(), &repb.GetCapabilitiesRequest{})
			if tc.wantOK && err != nil {
				t.Fatalf("GetCapabilities: %v, want success", err)
			}
			if !tc.wantOK && status.Code(err) != codes.Unavailable {
				t.Fatalf("GetCapabilities: %v, want UNAVAILABLE (handshake refused)", err)
			}
		})
	}
}
