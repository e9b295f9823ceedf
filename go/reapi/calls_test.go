package reapi_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// calls counts the streaming calls a test server is handling, so that a
// test can wait for the server to be inside its calls, or out of them,
// instead of sleeping.
type calls struct {
	active atomic.Int64
	mu     sync.Mutex
	byName map[string]int
}

// serverOption adds the counting interceptor to a server's options.
func (c *calls) serverOption() grpc.ServerOption {
	return grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		c.active.Add(1)
		defer c.active.Add(-1)
		c.mu.Lock()
		if c.byName == nil {
			c.byName = map[string]int{}
		}
		c.byName[info.FullMethod]++
		c.mu.Unlock()
		defer func() { c.mu.Lock(); c.byName[info.FullMethod]--; c.mu.Unlock() }()
		return handler(srv, ss)
	})
}

// waitActive polls until exactly n streaming calls are being handled.
func (c *calls) waitActive(t *testing.T, n int64) {
	t.Helper()
	waitFor(t, func() bool { return c.active.Load() == n }, func() string {
		c.mu.Lock()
		defer c.mu.Unlock()
		return fmt.Sprintf("%d streaming calls in the server (%v), want %d", c.active.Load(), c.byName, n)
	})
}

// waitFor polls cond with a deadline generous enough for a busy machine.
func waitFor(t *testing.T, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %s", describe())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
