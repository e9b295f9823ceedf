package channel_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestGRPC serves gRPC's health service on the guest's listener and calls it
// from several concurrent clients, through Forward and through Dial.
func TestGRPC(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			checkGoroutines(t)
			h, l, _ := startSession(t, tr)
			srv := grpc.NewServer()
			healthpb.RegisterHealthServer(srv, health.NewServer())
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			defer srv.Stop()

			tcp := listenLoopback(t)
			ctx, cancel := context.WithCancel(t.Context())
			forwarded := make(chan error, 1)
			go func() { forwarded <- h.Forward(ctx, tcp) }()

			viaForward := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
			viaDial := append(viaForward, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
				return h.Dial(ctx)
			}))
			var clients []*grpc.ClientConn
			for i := range 10 {
				target, opts := "passthrough:///"+tcp.Addr().String(), viaForward
				if i%4 == 0 {
					target, opts = "passthrough:///guest", viaDial
				}
				cc, err := grpc.NewClient(target, opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer cc.Close()
				clients = append(clients, cc)
			}
			var wg sync.WaitGroup
			for i, cc := range clients {
				for range 4 {
					wg.Go(func() {
						client := healthpb.NewHealthClient(cc)
						resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{})
						if err != nil {
							t.Errorf("client %d: Check: %v", i, err)
							return
						}
						if got := resp.GetStatus(); got != healthpb.HealthCheckResponse_SERVING {
							t.Errorf("client %d: status %v, want SERVING", i, got)
						}
					})
				}
			}
			wg.Wait()
			for _, cc := range clients {
				cc.Close()
			}

			cancel()
			if err := <-forwarded; err != nil {
				t.Errorf("Forward after cancel: %v, want nil", err)
			}
			if err := h.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			// The guest takes the failing listener as the order to shut down.
			if err := <-served; !errors.Is(err, net.ErrClosed) {
				t.Errorf("Serve after Host.Close: %v, want net.ErrClosed", err)
			}
		})
	}
}
