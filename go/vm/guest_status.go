package vm

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/statusrpc"
)

// guestStatus is the host's view of the guest daemon's status, for the
// status page, the metrics listener and the start-up summary: the guest's
// own Snapshot, with the mode and the state described as the host sees
// them.
type guestStatus struct {
	client *statusrpc.Client
	// vm describes the machine, e.g. "QEMU VM (x86_64, tcg)".
	vm string
	// casImage is the CAS disk image on the host, which the guest knows
	// only as a device.
	casImage string
}

// dialGuest opens a gRPC client to the guest's daemon through dial, one
// channel stream per connection.
func dialGuest(dial DialFunc) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///actiond-guest",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return dial(ctx) }))
}

// Snapshot implements statuspage.Source.
func (g guestStatus) Snapshot(ctx context.Context) (activity.Snapshot, error) {
	s, err := g.client.Snapshot(ctx)
	if err != nil {
		return s, err
	}
	if g.vm != "" {
		s.Mode = g.vm + ", " + s.Mode
	}
	if g.casImage != "" {
		s.Summary.Root = g.casImage + " (in the VM)"
	}
	return s, nil
}

// ReadBlob implements statuspage.Source.
func (g guestStatus) ReadBlob(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	return g.client.ReadBlob(ctx, d, limit)
}
