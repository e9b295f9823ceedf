package executor

// Observers tells each of its members in turn.
type Observers []Observer

// ActionQueued implements Observer.
func (os Observers) ActionQueued(id uint64, a QueuedAction) {
	for _, o := range os {
		o.ActionQueued(id, a)
	}
}

// ActionStarted implements Observer.
func (os Observers) ActionStarted(id uint64, argv0 string) {
	for _, o := range os {
		o.ActionStarted(id, argv0)
	}
}

// ActionDone implements Observer.
func (os Observers) ActionDone(r ActionReport) {
	for _, o := range os {
		o.ActionDone(r)
	}
}
