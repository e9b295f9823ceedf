package executor

// slotWaiter is an action waiting in jobSlots.
type slotWaiter struct {
	priority int32
	seq      uint64
	granted  chan struct{} // closed when the slot is handed over
	index    int           // in slotQueue; -1 once popped
}
