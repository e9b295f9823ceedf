package guest_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/actiond/actiond/go/guest"
)

// TestSingleConnListenServesGRPC serves gRPC on the stand-in session over
// an in-memory byte stream and checks that the end of the stream ends
// Serve with net.ErrClosed, which the guest takes as "shut down".
func TestSingleConnListenServesGRPC(t *testing.T) {
	guestEnd, hostEnd := net.Pipe()
	lis, err := guest.SingleConnListen(guestEnd)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	conn, err := grpc.NewClient("passthrough:///channel",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return hostEnd, nil }))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Check through the channel: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Check = %v, want SERVING", resp.GetStatus())
	}
	conn.Close() // the host ends the session
	if err := <-served; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve after the host closed the channel = %v, want an error wrapping net.ErrClosed", err)
	}
}
