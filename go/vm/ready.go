package vm

import (
	"context"
	"net"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
)

// DialFunc opens one connection to the guest's gRPC server.
type DialFunc func(ctx context.Context) (net.Conn, error)

// Readiness retry pacing: an attempt gives a booting guest this long to
// answer before the next one starts afresh, and failed attempts back off
// from the first to the last pause.
const (
	readyAttemptTimeout = 5 * time.Second
	readyFirstPause     = 20 * time.Millisecond
	readyMaxPause       = 500 * time.Millisecond
)

// WaitReady calls GetCapabilities on the guest through dial until it
// answers or ctx is done; the guest answering is what "ready" means, since
// it serves only after its boot steps succeeded. On ctx's end it returns
// the last attempt's error.
func WaitReady(ctx context.Context, dial DialFunc) error {
	pause := readyFirstPause
	for {
		err := getCapabilities(ctx, dial)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, readyMaxPause)
	}
}

func getCapabilities(ctx context.Context, dial DialFunc) error {
	ctx, cancel := context.WithTimeout(ctx, readyAttemptTimeout)
	defer cancel()
	cc, err := dialGuest(dial)
	if err != nil {
		return err
	}
	defer cc.Close()
	_, err = repb.NewCapabilitiesClient(cc).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{})
	return err
}
