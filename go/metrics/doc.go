// Package metrics holds actiond's Prometheus metrics: gRPC calls by method
// and code, CAS size and traffic, action cache hits and misses, actions by
// outcome and per-stage time, the running and queued actions, and the
// runtimes on offer. A Metrics is fed by a gRPC interceptor and as an
// executor.Observer, and read through its Registry.
package metrics
