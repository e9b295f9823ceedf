package daemon

import (
	"runtime"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/cas"
)

// Summary returns the daemon's start-up summary.
func (d *Daemon) Summary() activity.Summary { return d.summaryWith(d.store.Stats()) }

// summaryWith is Summary with the CAS's figures st.
func (d *Daemon) summaryWith(st cas.Stats) activity.Summary {
	s := d.summary
	s.Root, s.CASBytes, s.CASMaxBytes = d.cfg.Root, st.Bytes, st.MaxBytes
	s.Execution, s.Jobs = d.cfg.Execution, d.cfg.Jobs
	if s.Jobs <= 0 {
		s.Jobs = runtime.NumCPU() // the executor's default
	}
	s.TLS = activity.NewSummaryTLS(d.cfg.TLS, d.cfg.TLSCert)
	return s
}
