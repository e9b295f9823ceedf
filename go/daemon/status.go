package daemon

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/statuspage"
)

// Snapshot is the daemon's status for the status page, the `status`
// command and a VM host.
func (d *Daemon) Snapshot(ctx context.Context) (activity.Snapshot, error) {
	st := d.store.Stats()
	sum := d.summaryWith(st)
	s := activity.Snapshot{
		Version:   d.cfg.Version,
		Mode:      sum.Mode(),
		StartedAt: d.started,
		Now:       time.Now(),
		CAS:       activity.CASUsage{Bytes: st.Bytes, MaxBytes: st.MaxBytes, Blobs: st.Blobs, Evictions: st.Evictions},
		Summary:   sum,
	}
	d.tracker.Fill(&s)
	return s, nil
}

// ReadBlob returns blob dg from the CAS, for the status page's stderr links.
func (d *Daemon) ReadBlob(ctx context.Context, dg digest.Digest, limit int64) ([]byte, error) {
	return d.store.ReadAll(ctx, dg, limit)
}

// StatusHandler serves the status page and the metrics.
func (d *Daemon) StatusHandler() http.Handler {
	return statuspage.Handler(d, d.metrics.Registry(), d.logger)
}

// recordRuntimes publishes the runtimes actions can ask for as metrics.
func (d *Daemon) recordRuntimes() {
	for _, p := range d.summary.RuntimeProperties() {
		name, value, _ := strings.Cut(p, "=")
		d.metrics.SetRuntime(name, value)
	}
}
