package executor

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestJobSlotsOrder holds the only slot while waiters arrive, then releases
// it repeatedly: each release must go to the lowest priority value waiting,
// the earliest of equals first.
func TestJobSlotsOrder(t *testing.T) {
	tests := []struct {
		name       string
		priorities []int32 // in arrival order
		want       []int   // arrival indexes in the order they get the slot
	}{
		{"default priority is first come first served", []int32{0, 0, 0}, []int{0, 1, 2}},
		{"lower value first", []int32{5, -1, 0}, []int{1, 2, 0}},
		{"equal priorities keep arrival order", []int32{3, -2, 3, -2}, []int{1, 3, 0, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newJobSlots(1)
			if err := s.acquire(context.Background(), 0, 0); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got []int
			done := make(chan struct{})
			for i, p := range tc.priorities {
				go func() {
					if err := s.acquire(context.Background(), p, uint64(i)); err != nil {
						t.Error(err)
					}
					mu.Lock()
					got = append(got, i)
					mu.Unlock()
					done <- struct{}{}
				}()
				waitQueued(t, s, i+1)
			}
			for range tc.priorities {
				s.release()
				<-done
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("slots went to arrivals %v, want %v", got, tc.want)
			}
			s.release()
			if s.free != 1 {
				t.Errorf("free slots at the end = %d, want 1", s.free)
			}
		})
	}
}

// TestJobSlotsCancel: a waiter whose context ends leaves the queue with its
// cause and without a slot, also when the slot was handed to it at the same
// moment (then it passes it on), so no slot is ever lost.
func TestJobSlotsCancel(t *testing.T) {
	cause := errors.New("client went away")
	s := newJobSlots(1)
	if err := s.acquire(context.Background(), 0, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.acquire(ctx, 0, 1) }()
	waitQueued(t, s, 1)
	cancel(cause)
	if err := <-errc; !errors.Is(err, cause) {
		t.Fatalf("acquire after cancel = %v, want %v", err, cause)
	}
	s.release()
	if s.free != 1 || len(s.waiting) != 0 {
		t.Fatalf("free = %d, waiting = %d; want 1 and 0", s.free, len(s.waiting))
	}

	// Grants racing with cancellations.
	for i := range uint64(200) {
		if err := s.acquire(context.Background(), 0, 2*i); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- s.acquire(ctx, 0, 2*i+1) }()
		waitQueued(t, s, 1)
		go cancel()
		s.release()
		if err := <-errc; err == nil {
			s.release()
		}
		s.mu.Lock()
		free, waiting := s.free, len(s.waiting)
		s.mu.Unlock()
		if free != 1 || waiting != 0 {
			t.Fatalf("after a racing cancel: free = %d, waiting = %d; want 1 and 0", free, waiting)
		}
	}
}

// waitQueued waits until n acquirers are queued in s.
func waitQueued(t *testing.T, s *jobSlots, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.waiting)
		s.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
