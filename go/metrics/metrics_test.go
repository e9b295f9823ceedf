package metrics_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/metrics"
)

// value is the metric name{labels}'s value in g, or -1 when absent; for a
// histogram it is the sample count.
func value(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

type fakeStats struct{ st cas.Stats }

func (f *fakeStats) Stats() cas.Stats { return f.st }

// fakeServices answer just enough for the interceptor to see calls and
// bytes both ways.
type fakeServices struct {
	bspb.UnimplementedByteStreamServer
	repb.UnimplementedContentAddressableStorageServer
	repb.UnimplementedActionCacheServer
}

func (fakeServices) Write(s bspb.ByteStream_WriteServer) error {
	var n int64
	for {
		req, err := s.Recv()
		if err == io.EOF {
			return s.SendAndClose(&bspb.WriteResponse{CommittedSize: n})
		}
		if err != nil {
			return err
		}
		n += int64(len(req.GetData()))
	}
}

func (fakeServices) Read(req *bspb.ReadRequest, s bspb.ByteStream_ReadServer) error {
	if err := s.Send(&bspb.ReadResponse{Data: make([]byte, 700)}); err != nil {
		return err
	}
	return s.Send(&bspb.ReadResponse{Data: make([]byte, 300)})
}

func (fakeServices) BatchUpdateBlobs(context.Context, *repb.BatchUpdateBlobsRequest) (*repb.BatchUpdateBlobsResponse, error) {
	return &repb.BatchUpdateBlobsResponse{}, nil
}

func (fakeServices) BatchReadBlobs(context.Context, *repb.BatchReadBlobsRequest) (*repb.BatchReadBlobsResponse, error) {
	return &repb.BatchReadBlobsResponse{Responses: []*repb.BatchReadBlobsResponse_Response{{Data: make([]byte, 50)}}}, nil
}

func (fakeServices) GetActionResult(_ context.Context, req *repb.GetActionResultRequest) (*repb.ActionResult, error) {
	if req.GetInstanceName() == "hit" {
		return &repb.ActionResult{}, nil
	}
	return nil, status.Error(codes.NotFound, "no such result")
}

func serve(t *testing.T, m *metrics.Metrics) *grpc.ClientConn {
	t.Helper()
	s := grpc.NewServer(m.ServerOptions()...)
	bspb.RegisterByteStreamServer(s, &fakeServices{})
	repb.RegisterContentAddressableStorageServer(s, fakeServices{})
	repb.RegisterActionCacheServer(s, fakeServices{})
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
	return conn
}

// TestRPCMetrics makes real gRPC calls through the interceptor and checks
// the call counts by method and code, the latency histogram, the blob
// bytes both ways and the action cache lookups.
func TestRPCMetrics(t *testing.T) {
	m := metrics.New(nil)
	reg := m.Registry()
	conn := serve(t, m)
	ctx := t.Context()

	w, err := bspb.NewByteStreamClient(conn).Write(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1000, 24} {
		if err := w.Send(&bspb.WriteRequest{Data: make([]byte, n)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	r, err := bspb.NewByteStreamClient(conn).Read(ctx, &bspb.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := r.Recv(); err != nil {
			break
		}
	}
	casc := repb.NewContentAddressableStorageClient(conn)
	if _, err := casc.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{{Data: make([]byte, 5)}, {Data: make([]byte, 7)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := casc.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{}); err != nil {
		t.Fatal(err)
	}
	ac := repb.NewActionCacheClient(conn)
	for _, inst := range []string{"hit", "miss", "miss"} {
		_, _ = ac.GetActionResult(ctx, &repb.GetActionResultRequest{InstanceName: inst})
	}
	_, _ = casc.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{})

	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"actiond_cas_transfer_bytes_total", map[string]string{"direction": "upload"}, 1024 + 12},
		{"actiond_cas_transfer_bytes_total", map[string]string{"direction": "download"}, 1000 + 50},
		{"actiond_rpc_handled_total", map[string]string{"method": "/google.bytestream.ByteStream/Write", "code": "OK"}, 1},
		{"actiond_rpc_handled_total", map[string]string{"method": "/build.bazel.remote.execution.v2.ActionCache/GetActionResult", "code": "NotFound"}, 2},
		{"actiond_rpc_handled_total", map[string]string{"method": "/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs", "code": "Unimplemented"}, 1},
		{"actiond_rpc_duration_seconds", map[string]string{"method": "/build.bazel.remote.execution.v2.ActionCache/GetActionResult", "code": "OK"}, 1},
		{"actiond_rpc_duration_seconds", map[string]string{"method": "/google.bytestream.ByteStream/Read", "code": "OK"}, 1},
		{"actiond_action_cache_lookups_total", map[string]string{"source": "GetActionResult", "result": "hit"}, 1},
		{"actiond_action_cache_lookups_total", map[string]string{"source": "GetActionResult", "result": "miss"}, 2},
	}
	for _, tc := range tests {
		if got := value(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// TestActionMetrics feeds the Metrics as the executor would and checks
// the running and queued gauges, outcomes, stage histograms and the
// Execute lookups.
func TestActionMetrics(t *testing.T) {
	m := metrics.New(nil)
	reg := m.Registry()
	gauges := func() (float64, float64) {
		return value(t, reg, "actiond_actions_queued", nil), value(t, reg, "actiond_actions_running", nil)
	}
	m.ActionQueued(1, executor.QueuedAction{})
	m.ActionQueued(2, executor.QueuedAction{})
	if q, r := gauges(); q != 2 || r != 0 {
		t.Errorf("after two queued: queued %v, running %v; want 2, 0", q, r)
	}
	m.ActionStarted(1, "/bin/true")
	if q, r := gauges(); q != 1 || r != 1 {
		t.Errorf("after one started: queued %v, running %v; want 1, 1", q, r)
	}
	m.ActionDone(executor.ActionReport{ID: 1, Started: true, Outcome: executor.OutcomeTimeout, Stages: executor.StageDurations{Queue: time.Millisecond, Run: 2 * time.Second}})
	m.ActionDone(executor.ActionReport{ID: 2, Outcome: executor.OutcomeCancelled})
	m.ActionDone(executor.ActionReport{Outcome: executor.OutcomeCached})
	if q, r := gauges(); q != 0 || r != 0 {
		t.Errorf("after all done: queued %v, running %v; want 0, 0", q, r)
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"actiond_actions_total", map[string]string{"outcome": "timeout"}, 1},
		{"actiond_actions_total", map[string]string{"outcome": "cancelled"}, 1},
		{"actiond_actions_total", map[string]string{"outcome": "cached"}, 1},
		{"actiond_actions_total", map[string]string{"outcome": "success"}, 0},
		{"actiond_action_stage_seconds", map[string]string{"stage": "run"}, 1},
		{"actiond_action_stage_seconds", map[string]string{"stage": "queue"}, 1},
		{"actiond_action_stage_seconds", map[string]string{"stage": "output"}, 0},
		{"actiond_action_cache_lookups_total", map[string]string{"source": "Execute", "result": "hit"}, 1},
		{"actiond_action_cache_lookups_total", map[string]string{"source": "Execute", "result": "miss"}, 2},
	}
	for _, tc := range tests {
		if got := value(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// TestCASAndRuntimeMetrics checks that the CAS figures are read at each
// scrape and that runtimes are listed.
func TestCASAndRuntimeMetrics(t *testing.T) {
	stats := &fakeStats{st: cas.Stats{Bytes: 100, MaxBytes: 1000, Blobs: 3}}
	m := metrics.New(stats)
	reg := m.Registry()
	if got := value(t, reg, "actiond_cas_bytes", nil); got != 100 {
		t.Errorf("actiond_cas_bytes = %v, want 100", got)
	}
	stats.st = cas.Stats{Bytes: 900, MaxBytes: 1000, Blobs: 9, Evictions: 4}
	for name, want := range map[string]float64{"actiond_cas_bytes": 900, "actiond_cas_max_bytes": 1000, "actiond_cas_blobs": 9, "actiond_cas_evictions_total": 4} {
		if got := value(t, reg, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	m.SetRuntime("libc", "glibc2.36")
	if got := value(t, reg, "actiond_runtime_available", map[string]string{"property": "libc", "value": "glibc2.36"}); got != 1 {
		t.Errorf("runtime libc=glibc2.36 = %v, want 1", got)
	}
	if got := value(t, reg, "process_resident_memory_bytes", nil); got <= 0 {
		t.Errorf("process_resident_memory_bytes = %v, want the process metrics", got)
	}
}
