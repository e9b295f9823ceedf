package execroot

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
)

// sharedBuilds are the caches that share builds through a flight, reduced
// to one key: get looks it up, building it with build if absent; hits
// counts the lookups that found it (built or being built).
type sharedBuilds struct {
	get  func(ctx context.Context, build func() error) (hit bool, err error)
	hits func() uint64
}

func sharedBuildCaches(t *testing.T) map[string]func() sharedBuilds {
	return map[string]func() sharedBuilds{
		"cache": func() sharedBuilds {
			dir := t.TempDir()
			c := &cache{entries: make(map[string]*entry), maxEntries: 100, maxBytes: 1 << 40, trash: t.TempDir(), seq: &seqGen{}, failures: func() int64 { return 0 }}
			return sharedBuilds{
				get: func(ctx context.Context, build func() error) (bool, error) {
					e, hit, err := c.acquire(ctx, "k", func() (builtTree, error) {
						return builtTree{path: dir}, build()
					})
					if err == nil {
						c.release(e)
					}
					return hit, err
				},
				hits: func() uint64 { _, _, hits, _, _ := c.stats(); return hits },
			}
		},
		"treeCache": func() sharedBuilds {
			c := &treeCache{m: make(map[string]*treeEntry), maxEntries: 100}
			return sharedBuilds{
				get: func(ctx context.Context, build func() error) (bool, error) {
					_, hit, err := c.get(ctx, "k", func() (*inputTree, error) {
						if err := build(); err != nil {
							return nil, err
						}
						return &inputTree{}, nil
					})
					return hit, err
				},
				hits: func() uint64 { c.mu.Lock(); defer c.mu.Unlock(); return c.hits },
			}
		},
	}
}

type result struct {
	hit bool
	err error
}

// waitForHits polls until n lookups have found the key: a waiter has joined
// the build.
func waitForHits(t *testing.T, sb sharedBuilds, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for sb.hits() < n {
		if time.Now().After(deadline) {
			t.Fatalf("no waiter joined the build within 30s (hits %d, want %d)", sb.hits(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWaiterCannotCancelBuild: a waiter whose context is done returns its
// context's error at once, and the build goes on for the builder.
func TestWaiterCannotCancelBuild(t *testing.T) {
	for name, newCache := range sharedBuildCaches(t) {
		t.Run(name, func(t *testing.T) {
			sb := newCache()
			var builds atomic.Int32
			unblock := make(chan struct{})
			builder := make(chan result, 1)
			started := make(chan struct{})
			go func() {
				hit, err := sb.get(context.Background(), func() error {
					builds.Add(1)
					close(started)
					<-unblock
					return nil
				})
				builder <- result{hit, err}
			}()
			<-started
			ctx, cancel := context.WithCancel(context.Background())
			waiter := make(chan result, 1)
			go func() {
				hit, err := sb.get(ctx, func() error {
					builds.Add(1)
					return nil
				})
				waiter <- result{hit, err}
			}()
			waitForHits(t, sb, 1)
			cancel()
			select {
			case r := <-waiter:
				if rpcstatus.Code(r.err) != codes.Canceled {
					t.Errorf("waiter with a cancelled context: %v, want Canceled", r.err)
				}
			case <-time.After(30 * time.Second):
				close(unblock)
				t.Fatal("the waiter did not return within 30s of its context's cancellation")
			}
			select {
			case r := <-builder:
				t.Fatalf("the builder returned (%v) before its build finished", r.err)
			default:
			}
			close(unblock)
			if r := <-builder; r.err != nil || r.hit {
				t.Errorf("builder: hit %v, %v; want a miss that succeeds", r.hit, r.err)
			}
			if hit, err := sb.get(context.Background(), func() error { builds.Add(1); return nil }); err != nil || !hit {
				t.Errorf("after the build: hit %v, %v; want a hit", hit, err)
			}
			if n := builds.Load(); n != 1 {
				t.Errorf("%d builds, want 1", n)
			}
		})
	}
}

// TestWaiterRebuildsAbandonedBuild: when the builder's caller gives up, its
// build fails with its context, and a waiter whose context is live builds
// the key itself.
func TestWaiterRebuildsAbandonedBuild(t *testing.T) {
	for name, newCache := range sharedBuildCaches(t) {
		t.Run(name, func(t *testing.T) {
			sb := newCache()
			var builds atomic.Int32
			ctx, cancel := context.WithCancel(context.Background())
			builder := make(chan result, 1)
			started := make(chan struct{})
			go func() {
				hit, err := sb.get(ctx, func() error {
					builds.Add(1)
					close(started)
					<-ctx.Done()
					return rpcstatus.FromContext(ctx)
				})
				builder <- result{hit, err}
			}()
			<-started
			waiter := make(chan result, 1)
			go func() {
				hit, err := sb.get(context.Background(), func() error {
					builds.Add(1)
					return nil
				})
				waiter <- result{hit, err}
			}()
			waitForHits(t, sb, 1)
			cancel()
			if r := <-builder; rpcstatus.Code(r.err) != codes.Canceled {
				t.Errorf("builder with a cancelled context: %v, want Canceled", r.err)
			}
			if r := <-waiter; r.err != nil || r.hit {
				t.Errorf("waiter: hit %v, %v; want a miss (its own build) that succeeds", r.hit, r.err)
			}
			if n := builds.Load(); n != 2 {
				t.Errorf("%d builds, want 2", n)
			}
		})
	}
}
