package statusrpc_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/statusrpc"
)

type provider struct {
	snap activity.Snapshot
	err  error
}

func (p provider) Snapshot(context.Context) (activity.Snapshot, error) { return p.snap, p.err }

func dial(t *testing.T, p statusrpc.Provider, g prometheus.Gatherer) *statusrpc.Client {
	t.Helper()
	s := grpc.NewServer()
	statusrpc.Register(s, p, g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return statusrpc.NewClient(conn)
}

// TestSnapshotAndMetricsTravel checks that a Snapshot and the metrics
// arrive whole through a real gRPC connection, and that a provider's error
// keeps its code.
func TestSnapshotAndMetricsTravel(t *testing.T) {
	now := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	want := activity.Snapshot{Version: "1.2.3", Now: now, Summary: activity.Summary{Jobs: 3},
		Active:   []activity.Action{{ID: 9, State: "running", Argv0: "/bin/sh", Queued: now, Stages: activity.Stages{Run: time.Second}}},
		Outcomes: map[string]int64{"success": 4}}
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "actiond_test", Help: "h"}, []string{"k"})
	reg.MustRegister(g)
	g.WithLabelValues("v").Set(42)

	c := dial(t, provider{snap: want}, reg)
	got, err := c.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != want.Version || !got.Now.Equal(now) || len(got.Active) != 1 || got.Active[0].Stages.Run != time.Second || got.Outcomes["success"] != 4 {
		t.Errorf("Snapshot = %+v, want %+v", got, want)
	}
	mfs, err := c.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "actiond_test" || mfs[0].GetMetric()[0].GetGauge().GetValue() != 42 {
		t.Errorf("Gather = %v, want actiond_test{k=v} 42", mfs)
	}

	failing := dial(t, provider{err: status.Error(codes.Unavailable, "guest is gone")}, reg)
	if _, err := failing.Snapshot(t.Context()); status.Code(err) != codes.Unavailable {
		t.Errorf("Snapshot of a failing provider = %v, want UNAVAILABLE", err)
	}
}

func TestReadBlobRefusesOversizedDigests(t *testing.T) {
	c := dial(t, provider{}, prometheus.NewRegistry())
	big := digest.Digest{Hash: digest.Empty.Hash, Size: 1 << 30}
	if _, err := c.ReadBlob(t.Context(), big, 1<<20); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("ReadBlob of a 1 GiB digest with a 1 MiB limit = %v, want a refusal", err)
	}
}
