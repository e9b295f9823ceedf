package actioncache_test

import (
	"context"
	"os"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/digest"
)

// TestResultWithAlteredOutputMisses: once the CAS finds an output's file
// altered on disk (here when a client downloads it), the result that
// references it is a miss, so the action runs again.
func TestResultWithAlteredOutputMisses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1<<20)
	out := e.put(t, []byte("output bytes"), false)
	action := digest.OfBytes([]byte("action"))
	res := &repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "out", Digest: out.Proto()}}}
	if err := e.cache.Put(ctx, action, res); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cache.Get(ctx, action); err != nil {
		t.Fatalf("Get before the alteration: %v", err)
	}
	p := e.store.Path(out)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("OUTPUT BYTES"), 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Get(ctx, out); status.Code(err) != codes.NotFound {
		t.Fatalf("store.Get(altered) = %v, want NOT_FOUND", err)
	}
	if _, err := e.cache.Get(ctx, action); status.Code(err) != codes.NotFound {
		t.Errorf("cache.Get after its output was found altered = %v, want NOT_FOUND", err)
	}
}

// TestDirectoryIsPrivate: the action cache's directory allows no other
// user to write.
func TestDirectoryIsPrivate(t *testing.T) {
	e := newEnv(t, 1<<20)
	for _, dir := range []string{"ac", "ac/tmp"} {
		fi, err := os.Stat(e.root + "/" + dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			t.Errorf("%s has mode %#o, want no group or world write", dir, fi.Mode().Perm())
		}
	}
}
