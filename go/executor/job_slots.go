package executor

import (
	"container/heap"
	"context"
	"sync"
)

// jobSlots bounds how many actions run at once. Waiting actions get a free
// slot in order of ExecutionPolicy.priority (lower first, as the REAPI
// suggests; 0 is the default) and, within a priority, of the sequence
// number their caller gives (the order their Execute calls arrived in).
type jobSlots struct {
	mu      sync.Mutex
	free    int
	waiting slotQueue
}

func newJobSlots(n int) *jobSlots { return &jobSlots{free: n} }

// acquire waits for a slot. It returns ctx's cause, holding no slot, if ctx
// ends first.
func (s *jobSlots) acquire(ctx context.Context, priority int32, seq uint64) error {
	s.mu.Lock()
	if s.free > 0 && len(s.waiting) == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	w := &slotWaiter{priority: priority, seq: seq, granted: make(chan struct{})}
	heap.Push(&s.waiting, w)
	s.mu.Unlock()

	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if w.index < 0 { // granted meanwhile: pass the slot on
			s.releaseLocked()
		} else {
			heap.Remove(&s.waiting, w.index)
		}
		return context.Cause(ctx)
	}
}

// release returns a slot, handing it to the first waiter if there is one.
func (s *jobSlots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
}

func (s *jobSlots) releaseLocked() {
	if len(s.waiting) == 0 {
		s.free++
		return
	}
	w := heap.Pop(&s.waiting).(*slotWaiter)
	close(w.granted)
}
