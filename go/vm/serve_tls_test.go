package vm_test

import (
	"context"
	"flag"
	"net"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"

	"github.com/actiond/actiond/go/channel"
	"github.com/actiond/actiond/go/listener/listenertest"
	"github.com/actiond/actiond/go/vm"
)

// TestServeFlagsTLSListener forwards TLS clients of the listener the
// serve-vm flags open, through a real channel, to a plain gRPC server on
// the guest side: TLS ends on the host, and a client CA keeps out clients
// without a certificate it signed.
func TestServeFlagsTLSListener(t *testing.T) {
	ca := listenertest.NewCA(t, "actiond test CA")
	server := ca.Server(t)
	var f vm.ServeFlags
	fs := flag.NewFlagSet("serve-vm", flag.ContinueOnError)
	f.Register(fs, t.TempDir())
	if err := fs.Parse([]string{"--listen=127.0.0.1:0", "--tls-cert=" + server.CertFile, "--tls-key=" + server.KeyFile, "--tls-client-ca=" + ca.CertFile}); err != nil {
		t.Fatal(err)
	}
	listen, _, err := f.Listener()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := listen()
	if err != nil {
		t.Fatal(err)
	}

	hostConn, guestConn := net.Pipe()
	guestLis, err := channel.Listen(guestConn)
	if err != nil {
		t.Fatal(err)
	}
	host, err := channel.NewHost(hostConn)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	repb.RegisterCapabilitiesServer(srv, capabilities{})
	go srv.Serve(guestLis)
	ctx, cancel := context.WithCancel(context.Background())
	forwarded := make(chan error, 1)
	go func() { forwarded <- host.Forward(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		<-forwarded
		srv.Stop()
		host.Close()
		guestLis.Close()
	})

	listenertest.CheckClientAuth(t, ca, lis.Addr().String())
}
