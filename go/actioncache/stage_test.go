package actioncache_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/actioncache"
)

// TestStage covers results that are visible before their file is written:
// what Get and a reopened cache (a restart, or a crash before persist) see
// after each step, and which of two writes of one digest wins.
func TestStage(t *testing.T) {
	older := &repb.ActionResult{ExitCode: 1}
	newer := &repb.ActionResult{ExitCode: 2}
	tests := []struct {
		name string
		// steps runs against the cache; persisting is up to it.
		steps func(c *actioncache.Cache) error
		// want is what Get returns afterwards, wantDisk what a reopened
		// cache returns (nil: NOT_FOUND).
		want, wantDisk *repb.ActionResult
	}{
		{
			name: "staged, not persisted",
			steps: func(c *actioncache.Cache) error {
				_, err := c.Stage(context.Background(), actionDigest("a"), newer)
				return err
			},
			want: newer, wantDisk: nil,
		},
		{
			name: "staged and persisted",
			steps: func(c *actioncache.Cache) error {
				persist, err := c.Stage(context.Background(), actionDigest("a"), newer)
				if err != nil {
					return err
				}
				return persist()
			},
			want: newer, wantDisk: newer,
		},
		{
			name: "a Put after the Stage wins over its persist",
			steps: func(c *actioncache.Cache) error {
				persist, err := c.Stage(context.Background(), actionDigest("a"), older)
				if err != nil {
					return err
				}
				if err := c.Put(context.Background(), actionDigest("a"), newer); err != nil {
					return err
				}
				return persist()
			},
			want: newer, wantDisk: newer,
		},
		{
			name: "the later of two Stages wins, persisted in either order",
			steps: func(c *actioncache.Cache) error {
				persistOld, err := c.Stage(context.Background(), actionDigest("a"), older)
				if err != nil {
					return err
				}
				persistNew, err := c.Stage(context.Background(), actionDigest("a"), newer)
				if err != nil {
					return err
				}
				if err := persistNew(); err != nil {
					return err
				}
				return persistOld()
			},
			want: newer, wantDisk: newer,
		},
		{
			name: "a Stage after a Put shadows it until persisted",
			steps: func(c *actioncache.Cache) error {
				if err := c.Put(context.Background(), actionDigest("a"), older); err != nil {
					return err
				}
				_, err := c.Stage(context.Background(), actionDigest("a"), newer)
				return err
			},
			want: newer, wantDisk: older,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, 0)
			if err := tc.steps(e.cache); err != nil {
				t.Fatalf("steps: %v", err)
			}
			check := func(what string, c *actioncache.Cache, want *repb.ActionResult) {
				t.Helper()
				got, err := c.Get(ctx, actionDigest("a"))
				switch {
				case want == nil && status.Code(err) != codes.NotFound:
					t.Errorf("%s: Get = %v, %v; want NOT_FOUND", what, got, err)
				case want != nil && (err != nil || !proto.Equal(got, want)):
					t.Errorf("%s: Get = %v, %v; want %v", what, got, err, want)
				}
			}
			check("same cache", e.cache, tc.want)
			reopened, err := actioncache.Open(ctx, e.root, e.store, nil)
			if err != nil {
				t.Fatal(err)
			}
			check("reopened", reopened, tc.wantDisk)
		})
	}
}

// TestFailedPersistKeepsTheResult: a result that could not be written stays
// what Get returns, rather than an older stored one.
func TestFailedPersistKeepsTheResult(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0)
	older, newer := &repb.ActionResult{ExitCode: 1}, &repb.ActionResult{ExitCode: 2}
	if err := e.cache.Put(ctx, actionDigest("a"), older); err != nil {
		t.Fatal(err)
	}
	persist, err := e.cache.Stage(ctx, actionDigest("a"), newer)
	if err != nil {
		t.Fatal(err)
	}
	// Writes go through ac/tmp: without it, persist fails.
	tmp := filepath.Join(e.root, "ac", "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := persist(); err == nil {
		t.Fatal("persist without ac/tmp succeeded, want an error")
	}
	if got, err := e.cache.Get(ctx, actionDigest("a")); err != nil || !proto.Equal(got, newer) {
		t.Errorf("Get after a failed persist = %v, %v; want the staged %v", got, err, newer)
	}
}

// TestStageChecksLikePut: a result with a missing blob is refused at Stage
// with FAILED_PRECONDITION naming it, and is not visible.
func TestStageChecksLikePut(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0)
	r, ds := e.result(t, "stderr")
	_, err := e.cache.Stage(ctx, actionDigest("a"), r)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), ds["stderr"].String()) {
		t.Fatalf("Stage = %v, want FAILED_PRECONDITION naming %s", err, ds["stderr"])
	}
	if got, err := e.cache.Get(ctx, actionDigest("a")); status.Code(err) != codes.NotFound {
		t.Errorf("Get after a refused Stage = %v, %v; want NOT_FOUND", got, err)
	}
}

// TestStagedResultLosesEvictedBlobs: a staged result whose output left the
// CAS is NOT_FOUND, as a stored one would be.
func TestStagedResultLosesEvictedBlobs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 10_000)
	r, ds := e.result(t)
	if _, err := e.cache.Stage(ctx, actionDigest("a"), r); err != nil {
		t.Fatal(err)
	}
	e.evictOnly(t, ds, "file")
	if e.store.Contains(ctx, ds["file"]) {
		t.Fatal("output file not evicted")
	}
	if got, err := e.cache.Get(ctx, actionDigest("a")); status.Code(err) != codes.NotFound {
		t.Errorf("Get = %v, %v; want NOT_FOUND once an output blob is gone", got, err)
	}
}
