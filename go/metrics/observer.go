package metrics

import (
	"time"

	"github.com/actiond/actiond/go/executor"
)

// ActionQueued implements executor.Observer.
func (m *Metrics) ActionQueued(uint64, executor.QueuedAction) { m.queued.Inc() }

// ActionStarted implements executor.Observer.
func (m *Metrics) ActionStarted(uint64, string) {
	m.queued.Dec()
	m.running.Inc()
}

// ActionDone implements executor.Observer.
func (m *Metrics) ActionDone(r executor.ActionReport) {
	m.actions.WithLabelValues(string(r.Outcome)).Inc()
	if r.ID == 0 {
		if r.Outcome == executor.OutcomeCached {
			m.lookup("Execute", true)
		}
		return
	}
	m.lookup("Execute", false)
	if r.Started {
		m.running.Dec()
	} else {
		m.queued.Dec()
	}
	for i, d := range []time.Duration{r.Stages.Queue, r.Stages.Input, r.Stages.Setup, r.Stages.Spawn, r.Stages.Run, r.Stages.Output} {
		if d > 0 {
			m.stages.WithLabelValues(stageNames[i]).Observe(d.Seconds())
		}
	}
}
