package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/actiond/actiond/go/executor"
)

// Metrics are one daemon's metrics. Its methods are safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry

	rpcHandled *prometheus.CounterVec
	rpcSeconds *prometheus.HistogramVec
	casBytes   *prometheus.CounterVec
	acLookups  *prometheus.CounterVec
	actions    *prometheus.CounterVec
	stages     *prometheus.HistogramVec
	running    prometheus.Gauge
	queued     prometheus.Gauge
	runtimes   *prometheus.GaugeVec
}

// timeBuckets span a fast RPC (a fraction of a millisecond) to the
// longest action timeouts people set.
var timeBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Stage names, the values of actiond_action_stage_seconds' stage label.
var stageNames = []string{"queue", "input", "setup", "spawn", "run", "output"}

// New returns the metrics of a daemon whose CAS reports through cas (nil
// for none), with Go runtime and process metrics included.
func New(cas CASStats) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		rpcHandled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actiond_rpc_handled_total",
			Help: "gRPC calls completed, by full method name and status code.",
		}, []string{"method", "code"}),
		rpcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "actiond_rpc_duration_seconds",
			Help:    "Time from a gRPC call's arrival to its end, by method and status code.",
			Buckets: timeBuckets,
		}, []string{"method", "code"}),
		casBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actiond_cas_transfer_bytes_total",
			Help: "Blob bytes received (upload) and sent (download) by ByteStream and the batch calls, as sent on the wire (compressed when the client compresses).",
		}, []string{"direction"}),
		acLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actiond_action_cache_lookups_total",
			Help: "Action cache lookups by result (hit, miss) and source (GetActionResult, or Execute, where every action that runs counts as a miss).",
		}, []string{"source", "result"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actiond_actions_total",
			Help: "Execute requests answered, by outcome: cached, success, nonzero_exit, timeout, cancelled, setup_failure (the command never ran), error (it ran, its outputs could not be kept).",
		}, []string{"outcome"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "actiond_action_stage_seconds",
			Help:    "Time executed actions spent in each stage: queue, input, setup, spawn, run, output.",
			Buckets: timeBuckets,
		}, []string{"stage"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "actiond_actions_running",
			Help: "Actions holding a job slot.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "actiond_actions_queued",
			Help: "Actions waiting for a job slot.",
		}),
		runtimes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "actiond_runtime_available",
			Help: "1 for each runtime actions can ask for, by exec property (libc, runtime, requires-bash) and value.",
		}, []string{"property", "value"}),
	}
	m.registry.MustRegister(m.rpcHandled, m.rpcSeconds, m.casBytes, m.acLookups,
		m.actions, m.stages, m.running, m.queued, m.runtimes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cas != nil {
		m.registry.MustRegister(casCollector{stats: cas})
	}
	// Series that exist from the start, so that rates and ratios are
	// defined before the first event.
	for _, dir := range []string{"upload", "download"} {
		m.casBytes.WithLabelValues(dir)
	}
	for _, src := range []string{"GetActionResult", "Execute"} {
		for _, res := range []string{"hit", "miss"} {
			m.acLookups.WithLabelValues(src, res)
		}
	}
	for _, o := range executor.Outcomes {
		m.actions.WithLabelValues(string(o))
	}
	for _, s := range stageNames {
		m.stages.WithLabelValues(s)
	}
	return m
}

// Registry is where the metrics are gathered from.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// SetRuntime records a runtime actions can ask for with the exec property
// name=value.
func (m *Metrics) SetRuntime(name, value string) {
	m.runtimes.WithLabelValues(name, value).Set(1)
}

// lookup counts an action cache lookup from source.
func (m *Metrics) lookup(source string, hit bool) {
	res := "miss"
	if hit {
		res = "hit"
	}
	m.acLookups.WithLabelValues(source, res).Inc()
}
