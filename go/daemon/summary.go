package daemon

import (
	"runtime"

	"github.com/actiond/actiond/go/activity"
)

// Summary returns the daemon's start-up summary.
func (d *Daemon) Summary() activity.Summary {
	s := d.summary
	st := d.store.Stats()
	s.Root, s.CASBytes, s.CASMaxBytes = d.cfg.Root, st.Bytes, st.MaxBytes
	s.Execution, s.Jobs = d.cfg.Execution, d.cfg.Jobs
	if s.Jobs <= 0 {
		s.Jobs = runtime.NumCPU() // the executor's default
	}
	s.TLS = activity.NewSummaryTLS(d.cfg.TLS, d.cfg.TLSCert)
	return s
}
