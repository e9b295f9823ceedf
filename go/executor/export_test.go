package executor

// SlotWaiters counts the actions waiting for a job slot, for tests that
// need every one queued before they go on.
func SlotWaiters(e *Executor) int {
	e.slots.mu.Lock()
	defer e.slots.mu.Unlock()
	return len(e.slots.waiting)
}

// Waiting reports how many callers wait on the operation called name and
// whether its kill is scheduled (its last waiter left, and CancelGrace
// runs).
func Waiting(e *Executor, name string) (waiters int, killScheduled bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ex := e.ops[name]
	if ex == nil {
		return 0, false
	}
	return ex.waiters, ex.grace != nil
}
