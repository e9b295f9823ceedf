package executor

// SlotWaiters counts the actions waiting for a job slot, for tests that
// need every one queued before they go on.
func SlotWaiters(e *Executor) int {
	e.slots.mu.Lock()
	defer e.slots.mu.Unlock()
	return len(e.slots.waiting)
}
