package actioncache_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/actioncache"
	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
)

type env struct {
	root  string
	store *cas.Store
	cache *actioncache.Cache
}

func newEnv(t *testing.T, maxBytes int64) *env {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	store, err := cas.Open(ctx, cas.Options{Root: root, MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cache, err := actioncache.Open(ctx, root, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{root: root, store: store, cache: cache}
}

// put stores data in the CAS (unless skip) and returns its digest.
func (e *env) put(t *testing.T, data []byte, skip bool) digest.Digest {
	t.Helper()
	d := digest.OfBytes(data)
	if !skip {
		if err := e.store.Put(context.Background(), d, data); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (e *env) putTree(t *testing.T, tree *repb.Tree, skip bool) digest.Digest {
	t.Helper()
	b, _, err := digest.OfMessage(tree)
	if err != nil {
		t.Fatal(err)
	}
	return e.put(t, b, skip)
}

// evictOnly makes the store evict ds[victim] and nothing else of ds: it
// touches everything but the victim, then pushes it out with a blob just
// big enough that only the victim has to go (the store must be small).
func (e *env) evictOnly(t *testing.T, ds map[string]digest.Digest, victim string) {
	t.Helper()
	var keep []digest.Digest
	for name, d := range ds {
		if name != victim {
			keep = append(keep, d)
		}
	}
	if m := e.store.FindMissing(context.Background(), keep); len(m) != 0 {
		t.Fatal("blobs missing before eviction")
	}
	room := e.store.Stats().MaxBytes - e.store.Stats().Bytes
	e.put(t, bytes.Repeat([]byte("f"), int(room+1)), false)
}

func actionDigest(name string) digest.Digest { return digest.OfBytes([]byte("action " + name)) }

func blobsSubject(d digest.Digest) string { return fmt.Sprintf("blobs/%s/%d", d.Hash, d.Size) }

// result builds an ActionResult with one output file, stdout, stderr and an
// output directory whose Tree has a file in its root and one in a child,
// its Directories also stored on their own.
// Each blob whose name is in missing is left out of the CAS.
func (e *env) result(t *testing.T, missing ...string) (*repb.ActionResult, map[string]digest.Digest) {
	t.Helper()
	skip := map[string]bool{}
	for _, m := range missing {
		skip[m] = true
	}
	ds := map[string]digest.Digest{}
	for _, name := range []string{"file", "stdout", "stderr", "treeRootFile", "treeChildFile"} {
		ds[name] = e.put(t, []byte("contents of "+name), skip[name])
	}
	child := &repb.Directory{Files: []*repb.FileNode{{Name: "c.o", Digest: ds["treeChildFile"].Proto()}}}
	_, childD, _ := digest.OfMessage(child)
	tree := &repb.Tree{
		Root: &repb.Directory{
			Files:       []*repb.FileNode{{Name: "r.o", Digest: ds["treeRootFile"].Proto(), IsExecutable: true}},
			Directories: []*repb.DirectoryNode{{Name: "sub", Digest: childD.Proto()}},
		},
		Children: []*repb.Directory{child},
	}
	ds["tree"] = e.putTree(t, tree, skip["tree"])
	// The Directories stored on their own too (root_directory_digest).
	childBytes, _, _ := digest.OfMessage(child)
	ds["childDir"] = e.put(t, childBytes, skip["childDir"])
	rootBytes, _, _ := digest.OfMessage(tree.Root)
	ds["rootDir"] = e.put(t, rootBytes, skip["rootDir"])
	return &repb.ActionResult{
		OutputFiles:       []*repb.OutputFile{{Path: "out/file", Digest: ds["file"].Proto()}},
		OutputDirectories: []*repb.OutputDirectory{{Path: "out/dir", TreeDigest: ds["tree"].Proto(), RootDirectoryDigest: ds["rootDir"].Proto()}},
		StdoutDigest:      ds["stdout"].Proto(),
		StderrDigest:      ds["stderr"].Proto(),
		ExitCode:          3,
	}, ds
}

func TestPutGet(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0)
	ad := actionDigest("a")
	_, err := e.cache.Get(ctx, ad)
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Get before Put: err = %v, want NotFound", err)
	}
	r, _ := e.result(t)
	if err := e.cache.Put(ctx, ad, r); err != nil {
		t.Fatalf("Put = %v", err)
	}
	got, err := e.cache.Get(ctx, ad)
	if err != nil || !proto.Equal(got, r) {
		t.Fatalf("Get = %v, %v; want %v", got, err, r)
	}
	// A second Put replaces the first.
	r2 := &repb.ActionResult{ExitCode: 7, StdoutRaw: []byte("inline")}
	if err := e.cache.Put(ctx, ad, r2); err != nil {
		t.Fatalf("second Put = %v", err)
	}
	if got, err := e.cache.Get(ctx, ad); err != nil || !proto.Equal(got, r2) {
		t.Errorf("Get after replace = %v, %v; want %v", got, err, r2)
	}
	// Results survive a reopen; leftover temp files do not.
	leftover := filepath.Join(e.root, "ac", "tmp", "ac-crash")
	if err := os.WriteFile(leftover, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	c2, err := actioncache.Open(ctx, e.root, e.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c2.Get(ctx, ad); err != nil || !proto.Equal(got, r2) {
		t.Errorf("Get after reopen = %v, %v", got, err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("temp leftover survived Open: %v", err)
	}
}

func TestPutMissingBlobs(t *testing.T) {
	tests := []struct {
		name    string
		missing []string
		// want lists the blobs named in the PreconditionFailure, in order.
		want []string
	}{
		{"output file", []string{"file"}, []string{"file"}},
		{"stdout and stderr", []string{"stdout", "stderr"}, []string{"stdout", "stderr"}},
		{"tree", []string{"tree"}, []string{"tree"}},
		{"file in tree root", []string{"treeRootFile"}, []string{"treeRootFile"}},
		{"file in tree child", []string{"treeChildFile"}, []string{"treeChildFile"}},
		{"root directory", []string{"rootDir"}, []string{"rootDir"}},
		{"child directory", []string{"childDir"}, []string{"childDir"}},
		{"everything", []string{"file", "stdout", "stderr", "tree"}, []string{"file", "stdout", "stderr", "tree"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, 0)
			r, ds := e.result(t, tc.missing...)
			ad := actionDigest(tc.name)
			err := e.cache.Put(ctx, ad, r)
			st := status.Convert(err)
			if st.Code() != codes.FailedPrecondition {
				t.Fatalf("Put err = %v, want FailedPrecondition", err)
			}
			var got []string
			for _, det := range st.Details() {
				pf, ok := det.(*errdetails.PreconditionFailure)
				if !ok {
					t.Fatalf("detail %T, want PreconditionFailure", det)
				}
				for _, v := range pf.GetViolations() {
					if v.GetType() != "MISSING" {
						t.Errorf("violation type = %q, want MISSING", v.GetType())
					}
					got = append(got, v.GetSubject())
				}
			}
			var want []string
			for _, name := range tc.want {
				want = append(want, blobsSubject(ds[name]))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("violations = %v, want %v", got, want)
			}
			if _, err := e.cache.Get(ctx, ad); status.Code(err) != codes.NotFound {
				t.Errorf("Get after rejected Put: err = %v, want NotFound", err)
			}
		})
	}
}

func TestPutInvalid(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0)
	good := e.put(t, []byte("good"), false)
	notATree := e.put(t, []byte("\xff\xff not a proto"), false)
	badTree := e.putTree(t, &repb.Tree{Root: &repb.Directory{Files: []*repb.FileNode{{Name: "x", Digest: &repb.Digest{Hash: "nothex", SizeBytes: 1}}}}}, false)
	tests := []struct {
		name   string
		action digest.Digest
		r      *repb.ActionResult
		want   codes.Code
	}{
		{"bad action digest", digest.Digest{Hash: "abc", Size: 1}, &repb.ActionResult{}, codes.InvalidArgument},
		{"nil result", actionDigest("x"), nil, codes.InvalidArgument},
		{"output file without digest", actionDigest("x"), &repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "a"}}}, codes.InvalidArgument},
		{"output file bad hash", actionDigest("x"), &repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "a", Digest: &repb.Digest{Hash: "zz", SizeBytes: 1}}}}, codes.InvalidArgument},
		{"negative size", actionDigest("x"), &repb.ActionResult{StdoutDigest: &repb.Digest{Hash: good.Hash, SizeBytes: -1}}, codes.InvalidArgument},
		{"output directory without tree", actionDigest("x"), &repb.ActionResult{OutputDirectories: []*repb.OutputDirectory{{Path: "d"}}}, codes.InvalidArgument},
		{"tree blob not a Tree", actionDigest("x"), &repb.ActionResult{OutputDirectories: []*repb.OutputDirectory{{Path: "d", TreeDigest: notATree.Proto()}}}, codes.InvalidArgument},
		{"second directory with the same tree and a wrong root directory digest", actionDigest("x"), func() *repb.ActionResult {
			r, _ := e.result(t)
			second := proto.Clone(r.OutputDirectories[0]).(*repb.OutputDirectory)
			second.Path = "out/dir2"
			second.RootDirectoryDigest = e.put(t, []byte("yet another blob"), false).Proto()
			r.OutputDirectories = append(r.OutputDirectories, second)
			return r
		}(), codes.InvalidArgument},
		{"root directory digest not the tree's root", actionDigest("x"), func() *repb.ActionResult {
			r, _ := e.result(t)
			r.OutputDirectories[0].RootDirectoryDigest = e.put(t, []byte("some other blob"), false).Proto()
			return r
		}(), codes.InvalidArgument},
		{"tree with bad file digest", actionDigest("x"), &repb.ActionResult{OutputDirectories: []*repb.OutputDirectory{{Path: "d", TreeDigest: badTree.Proto()}}}, codes.InvalidArgument},
		{"too large", actionDigest("x"), &repb.ActionResult{StdoutRaw: bytes.Repeat([]byte("x"), actioncache.MaxResultBytes+1)}, codes.ResourceExhausted},
		{"valid", actionDigest("x"), &repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "a", Digest: good.Proto()}}}, codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.cache.Put(ctx, tc.action, tc.r); status.Code(err) != tc.want {
				t.Errorf("Put err = %v, want code %v", err, tc.want)
			}
		})
	}
}

func TestGetAfterEviction(t *testing.T) {
	tests := []struct {
		name  string
		evict string // the blob whose eviction must invalidate the result
	}{
		{"output file", "file"},
		{"stderr", "stderr"},
		{"tree", "tree"},
		{"file inside tree", "treeChildFile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, 10_000)
			r, ds := e.result(t)
			ad := actionDigest(tc.name)
			if err := e.cache.Put(ctx, ad, r); err != nil {
				t.Fatal(err)
			}
			e.evictOnly(t, ds, tc.evict)
			if e.store.Contains(ctx, ds[tc.evict]) {
				t.Fatalf("%s not evicted", tc.evict)
			}
			_, err := e.cache.Get(ctx, ad)
			if status.Code(err) != codes.NotFound {
				t.Fatalf("Get = %v, want NotFound", err)
			}
			if _, err := os.Stat(filepath.Join(e.root, "ac", ad.FileName())); !os.IsNotExist(err) {
				t.Errorf("stale entry not removed: %v", err)
			}
		})
	}
}

func TestCorruptEntry(t *testing.T) {
	tests := []struct {
		name string
		make func(path string) error
	}{
		{"garbage", func(p string) error { return os.WriteFile(p, []byte("\xff\xff\xff garbage"), 0o644) }},
		{"truncated result", func(p string) error {
			b, _ := proto.Marshal(&repb.ActionResult{StdoutRaw: []byte("some output that gets cut")})
			return os.WriteFile(p, b[:len(b)-3], 0o644)
		}},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, 0)
			ad := actionDigest(tc.name)
			p := filepath.Join(e.root, "ac", ad.FileName())
			if err := tc.make(p); err != nil {
				t.Fatal(err)
			}
			if _, err := e.cache.Get(ctx, ad); status.Code(err) != codes.NotFound {
				t.Fatalf("Get = %v, want NotFound", err)
			}
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Errorf("corrupt entry not removed: %v", err)
			}
			// The slot is usable again.
			want := &repb.ActionResult{ExitCode: 1}
			if err := e.cache.Put(ctx, ad, want); err != nil {
				t.Fatalf("Put after corruption = %v", err)
			}
			if got, err := e.cache.Get(ctx, ad); err != nil || !proto.Equal(got, want) {
				t.Errorf("Get = %v, %v; want %v", got, err, want)
			}
		})
	}
}
