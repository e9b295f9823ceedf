package execroot_test

import (
	"context"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
	"github.com/actiond/actiond/go/rpcstatus"
)

// doublingTree stores a tree of levels Directories, each naming the one
// below twice ("a" and "b"), over a leaf holding one file of content. As
// materialized it has 2^levels files and 3*2^levels-2 entries, from
// levels+1 distinct Directory protos, whose sizes it also returns.
func doublingTree(t testing.TB, s *testStore, levels int, content string) (root digest.Digest, protoBytes int64) {
	t.Helper()
	f := putBlob(t, s, content)
	d := putDir(t, s, &repb.Directory{Files: []*repb.FileNode{{Name: "f", Digest: f.Proto()}}})
	protoBytes = d.Size
	for range levels {
		d = putDir(t, s, &repb.Directory{Directories: []*repb.DirectoryNode{
			{Name: "a", Digest: d.Proto()},
			{Name: "b", Digest: d.Proto()},
		}})
		protoBytes += d.Size
	}
	return d, protoBytes
}

// nonDirs counts the files, symlinks and other non-directories under dir.
func nonDirs(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// Action directories made ahead hold their empty stdio files.
		if rel, _ := filepath.Rel(dir, p); path.Base(rel) == "stdout" || path.Base(rel) == "stderr" {
			if parts := strings.Split(rel, "/"); len(parts) == 3 && parts[0] == "actions" {
				return nil
			}
		}
		if !e.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPrepareRefusesExpandingTree guards against trees that name one child
// many times: 40 levels of doubling are 41 tiny protos but 2^40 hard links.
// They must be refused from the protos alone, quickly, with nothing created.
func TestPrepareRefusesExpandingTree(t *testing.T) {
	for _, tc := range []struct {
		name   string
		levels int
		mod    func(*execroot.Options)
		limit  string
	}{
		{name: "Entries", levels: 40, limit: "MaxInputEntries"},
		// 2^100 overflows int64: the counts must saturate, not wrap.
		{name: "EntriesOverflow", levels: 100, limit: "MaxInputEntries"},
		{name: "Bytes", levels: 40, mod: func(o *execroot.Options) { o.MaxInputEntries = math.MaxInt64 }, limit: "MaxInputBytes"},
		{name: "BytesOverflow", levels: 100, mod: func(o *execroot.Options) { o.MaxInputEntries = math.MaxInt64 }, limit: "MaxInputBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			root, _ := doublingTree(t, s, tc.levels, "tiny")
			work := filepath.Join(t.TempDir(), "work")
			b := newBuilder(t, s, func(o *execroot.Options) {
				o.WorkDir = work
				if tc.mod != nil {
					tc.mod(o)
				}
			})
			start := time.Now()
			r, err := b.Prepare(context.Background(), root, &repb.Command{}, execroot.PrepareOptions{})
			took := time.Since(start)
			if r != nil {
				r.Close()
			}
			if got := rpcstatus.Code(err); got != codes.ResourceExhausted {
				t.Fatalf("Prepare: got %v (%v), want ResourceExhausted", got, err)
			}
			msg := rpcstatus.Message(err)
			if !strings.Contains(msg, tc.limit) || !strings.Contains(msg, root.String()) {
				t.Errorf("error message %q: want it to name %s and the input root %s", msg, tc.limit, root)
			}
			if took > time.Second {
				t.Errorf("Prepare took %v; want under a second", took)
			}
			if got := s.reads.Load(); got > int64(tc.levels+1) {
				t.Errorf("Directory reads: got %d, want at most %d (each distinct proto once)", got, tc.levels+1)
			}
			if n := nonDirs(t, work); n != 0 {
				t.Errorf("work dir holds %d files after the refusal; want 0", n)
			}
			for _, sub := range []string{"dircache", "roots", "tmp"} {
				if es, err := os.ReadDir(filepath.Join(work, sub)); err != nil || len(es) != 0 {
					t.Errorf("%s after the refusal: %d entries, %v; want empty", sub, len(es), err)
				}
			}
			if got := s.pinned(); got != 0 {
				t.Errorf("pins after the refusal: %d; want 0", got)
			}
		})
	}
}

// TestPrepareInputLimits sets each input limit to exactly what a legitimate
// tree with repeated subtrees needs (it is materialized in full), and to one
// less (it is refused naming that limit).
func TestPrepareInputLimits(t *testing.T) {
	const levels = 10
	const content = "0123456789"
	files := 1 << levels
	entries := int64(3*files - 2)
	bytes := int64(files * len(content))
	s := newStore(t)
	root, protoBytes := doublingTree(t, s, levels, content)
	exact := func(o *execroot.Options) {
		o.MaxInputEntries = entries
		o.MaxInputBytes = bytes
		o.MaxInputDirectories = levels + 1
		o.MaxInputDirectoryBytes = protoBytes
		o.BindThreshold = math.MaxInt // link everything into the lower tree
	}
	for _, tc := range []struct {
		name  string
		mod   func(*execroot.Options)
		limit string // "" for success
	}{
		{name: "Exact"},
		{name: "Entries", mod: func(o *execroot.Options) { o.MaxInputEntries-- }, limit: "MaxInputEntries"},
		{name: "Bytes", mod: func(o *execroot.Options) { o.MaxInputBytes-- }, limit: "MaxInputBytes"},
		{name: "Directories", mod: func(o *execroot.Options) { o.MaxInputDirectories-- }, limit: "MaxInputDirectories"},
		{name: "DirectoryBytes", mod: func(o *execroot.Options) { o.MaxInputDirectoryBytes-- }, limit: "MaxInputDirectoryBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t, s, func(o *execroot.Options) {
				exact(o)
				if tc.mod != nil {
					tc.mod(o)
				}
			})
			r, err := b.Prepare(context.Background(), root, &repb.Command{}, execroot.PrepareOptions{})
			if tc.limit == "" {
				if err != nil {
					t.Fatalf("Prepare within the limits: %v", err)
				}
				defer r.Close()
				if got := nonDirs(t, lowerOf(r)); got != files {
					t.Errorf("lower tree: %d files, want %d", got, files)
				}
				if got, err := os.ReadFile(filepath.Join(lowerOf(r), strings.Repeat("b/", levels)+"f")); err != nil || string(got) != content {
					t.Errorf("deepest file: got %q, %v; want %q", got, err, content)
				}
				return
			}
			if r != nil {
				r.Close()
			}
			if got := rpcstatus.Code(err); got != codes.ResourceExhausted || !strings.Contains(rpcstatus.Message(err), tc.limit) {
				t.Errorf("Prepare: got %v (%v), want ResourceExhausted naming %s", got, err, tc.limit)
			}
		})
	}
}

// TestPrepareStopsReadingLargeTree checks that a tree whose distinct
// Directories alone exceed the entry limit is refused without reading the
// rest of it.
func TestPrepareStopsReadingLargeTree(t *testing.T) {
	s := newStore(t)
	var ents []ent
	for _, d := range []string{"a", "b", "c", "d"} {
		ents = append(ents, bigTree(d, 10)...)
	}
	root := putTree(t, s, ents)
	b := newBuilder(t, s, func(o *execroot.Options) { o.MaxInputEntries = 12 })
	_, err := b.Prepare(context.Background(), root, &repb.Command{}, execroot.PrepareOptions{})
	if got := rpcstatus.Code(err); got != codes.ResourceExhausted {
		t.Fatalf("Prepare: got %v (%v), want ResourceExhausted", got, err)
	}
	// The root (4 entries) and "a" (10) are over 12.
	if got := s.reads.Load(); got != 2 {
		t.Errorf("Directory reads: got %d, want 2", got)
	}
}

// TestPrepareDepthThroughSharedDirectory checks the depth limit along the
// longest path: x (100 levels below it) also occurs right under the root,
// so breadth-first levels stop at 101 while the deepest directory is 200
// levels down (the limit is 128).
func TestPrepareDepthThroughSharedDirectory(t *testing.T) {
	for _, tc := range []struct{ direct, chain string }{
		{direct: "a", chain: "b"}, // x is counted first at depth 1
		{direct: "z", chain: "b"}, // x is counted first at depth 100
	} {
		t.Run(tc.direct+tc.chain, func(t *testing.T) {
			s := newStore(t)
			x := putDir(t, s, &repb.Directory{})
			for range 100 {
				x = putDir(t, s, &repb.Directory{Directories: []*repb.DirectoryNode{{Name: "x", Digest: x.Proto()}}})
			}
			c := x
			for range 99 {
				c = putDir(t, s, &repb.Directory{Directories: []*repb.DirectoryNode{{Name: "c", Digest: c.Proto()}}})
			}
			nodes := []*repb.DirectoryNode{{Name: tc.direct, Digest: x.Proto()}, {Name: tc.chain, Digest: c.Proto()}}
			if tc.direct > tc.chain {
				nodes[0], nodes[1] = nodes[1], nodes[0]
			}
			root := putDir(t, s, &repb.Directory{Directories: nodes})
			b := newBuilder(t, s, nil)
			_, err := b.Prepare(context.Background(), root, &repb.Command{}, execroot.PrepareOptions{})
			if got := rpcstatus.Code(err); got != codes.InvalidArgument || !strings.Contains(rpcstatus.Message(err), "nested deeper") {
				t.Errorf("Prepare of a tree 200 levels deep: got %v (%v), want InvalidArgument for nesting", got, err)
			}
		})
	}
}
