package execroot_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
	"github.com/actiond/actiond/go/rpcstatus"
)

// readTree fetches a Tree and returns its root and its children by digest,
// checking that the children are topologically sorted and distinct.
func readTree(t *testing.T, s *testStore, d *repb.Digest) (*repb.Directory, map[digest.Digest]*repb.Directory) {
	t.Helper()
	dg, err := digest.FromProto(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.ReadAll(context.Background(), dg, 1<<20)
	if err != nil {
		t.Fatalf("read Tree: %v", err)
	}
	tree := &repb.Tree{}
	if err := proto.Unmarshal(b, tree); err != nil {
		t.Fatal(err)
	}
	children := map[digest.Digest]*repb.Directory{}
	reachable := map[digest.Digest]bool{}
	mark := func(dir *repb.Directory) {
		for _, sub := range dir.Directories {
			reachable[digest.Digest{Hash: sub.Digest.Hash, Size: sub.Digest.SizeBytes}] = true
		}
	}
	mark(tree.Root)
	for _, c := range tree.Children {
		_, cd, _ := digest.OfMessage(c)
		if children[cd] != nil {
			t.Errorf("Tree child %s stored twice", cd)
		}
		if !reachable[cd] {
			t.Errorf("Tree child %s comes before its parent", cd)
		}
		children[cd] = c
		mark(c)
	}
	return tree.Root, children
}

func names[T interface{ GetName() string }](ns []T) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.GetName())
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCollectOutputs(t *testing.T) {
	s := newStore(t)
	root := putTree(t, s, []ent{
		{path: "in/a.txt", content: "A"},
		{path: "keep/kept.txt", content: "kept"},
		{path: "keep/gone.txt", content: "gone"},
		{path: "opq/hidden.txt", content: "hidden"},
	})
	b := newBuilder(t, s, nil)
	cmd := &repb.Command{
		OutputFiles:       []string{"out/dangling", "out/f.txt", "out/flink", "out/missing", "out/x.sh"},
		OutputDirectories: []string{"keep", "out/d", "out/dlink", "out/nodir", "opq"},
	}
	r := prepare(t, b, root, cmd)
	up := upperOf(r)
	writeFile(t, filepath.Join(up, "out/f.txt"), "hello", 0o644)
	writeFile(t, filepath.Join(up, "out/x.sh"), "#!x", 0o755)
	writeFile(t, filepath.Join(up, "out/d/a.txt"), "a", 0o600)
	writeFile(t, filepath.Join(up, "out/d/sub/b.txt"), "b", 0o644)
	writeFile(t, filepath.Join(up, "out/d/sub2/b.txt"), "b", 0o644)
	if err := os.Mkdir(filepath.Join(up, "out/d/empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"out/flink": "f.txt", "out/dangling": "nope", "out/dlink": "d", "out/d/l": "a.txt"} {
		if err := os.Symlink(target, filepath.Join(up, link)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(up, "keep/new.txt"), "new", 0o644)
	overlayOps := os.Geteuid() == 0
	if overlayOps {
		// What overlayfs leaves for a deleted lower file and for a
		// directory that was removed and made again.
		if err := unix.Mknod(filepath.Join(up, "keep/gone.txt"), unix.S_IFCHR|0o000, 0); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(up, "opq/visible.txt"), "v", 0o644)
		if err := unix.Setxattr(filepath.Join(up, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			t.Fatal(err)
		}
	}

	res := &repb.ActionResult{}
	if err := r.CollectOutputs(context.Background(), cmd, res); err != nil {
		t.Fatalf("CollectOutputs: %v", err)
	}

	files := map[string]*repb.OutputFile{}
	for _, f := range res.OutputFiles {
		files[f.Path] = f
	}
	if len(files) != 2 {
		t.Errorf("output files: got %v; want out/f.txt and out/x.sh", names2(res.OutputFiles))
	}
	for path, want := range map[string]struct {
		content string
		exec    bool
	}{"out/f.txt": {"hello", false}, "out/x.sh": {"#!x", true}} {
		f := files[path]
		if f == nil {
			continue
		}
		got := digest.Digest{Hash: f.Digest.Hash, Size: f.Digest.SizeBytes}
		if got != digest.OfBytes([]byte(want.content)) || f.IsExecutable != want.exec {
			t.Errorf("%s: got %s exec=%v; want digest of %q exec=%v", path, got, f.IsExecutable, want.content, want.exec)
		}
		if !s.has(digest.OfBytes([]byte(want.content))) {
			t.Errorf("%s: not in the CAS", path)
		}
	}
	if _, err := os.Lstat(filepath.Join(up, "out/f.txt")); !os.IsNotExist(err) {
		t.Errorf("out/f.txt in the upper dir after collection: %v; want it moved into the CAS", err)
	}
	wantLinks := map[string]string{"out/flink": "f.txt", "out/dangling": "nope"}
	if len(res.OutputFileSymlinks) != len(wantLinks) {
		t.Errorf("output file symlinks: got %v; want %v", res.OutputFileSymlinks, wantLinks)
	}
	for _, l := range res.OutputFileSymlinks {
		if wantLinks[l.Path] != l.Target {
			t.Errorf("output file symlink %s -> %s; want -> %q", l.Path, l.Target, wantLinks[l.Path])
		}
	}
	if len(res.OutputDirectorySymlinks) != 1 || res.OutputDirectorySymlinks[0].Path != "out/dlink" || res.OutputDirectorySymlinks[0].Target != "d" {
		t.Errorf("output directory symlinks: got %v; want out/dlink -> d", res.OutputDirectorySymlinks)
	}
	if len(res.OutputSymlinks) != 0 {
		t.Errorf("output symlinks: got %v; want none for REAPI 2.0 fields", res.OutputSymlinks)
	}

	dirs := map[string]*repb.OutputDirectory{}
	for _, d := range res.OutputDirectories {
		dirs[d.Path] = d
		if !d.IsTopologicallySorted {
			t.Errorf("output directory %s: not marked topologically sorted", d.Path)
		}
	}
	wantDirs := []string{"keep", "out/d", "opq"}
	if !overlayOps {
		wantDirs = []string{"keep", "out/d"}
	}
	if len(dirs) != len(wantDirs) {
		t.Errorf("output directories: got %v; want %v", dirs, wantDirs)
	}
	if d := dirs["out/d"]; d != nil {
		root, children := readTree(t, s, d.TreeDigest)
		if got := names(root.Files); !equal(got, []string{"a.txt"}) {
			t.Errorf("out/d files: got %v", got)
		}
		if got := names(root.Directories); !equal(got, []string{"empty", "sub", "sub2"}) {
			t.Errorf("out/d directories: got %v", got)
		}
		if len(root.Symlinks) != 1 || root.Symlinks[0].Name != "l" || root.Symlinks[0].Target != "a.txt" {
			t.Errorf("out/d symlinks: got %v; want l -> a.txt", root.Symlinks)
		}
		if len(children) != 2 {
			t.Errorf("out/d children: got %d; want 2 (empty, and sub = sub2 deduplicated)", len(children))
		}
		if root.Directories[1].Digest.Hash != root.Directories[2].Digest.Hash {
			t.Errorf("sub and sub2 have different digests; want equal")
		}
	}
	if d := dirs["keep"]; d != nil {
		root, _ := readTree(t, s, d.TreeDigest)
		want := []string{"gone.txt", "kept.txt", "new.txt"}
		if overlayOps {
			want = []string{"kept.txt", "new.txt"}
		}
		if got := names(root.Files); !equal(got, want) {
			t.Errorf("keep files: got %v, want %v", got, want)
		}
		for _, f := range root.Files {
			if f.Name == "kept.txt" && f.Digest.Hash != digest.OfBytes([]byte("kept")).Hash {
				t.Errorf("keep/kept.txt: got digest %v; want the input's", f.Digest)
			}
		}
	}
	if d := dirs["opq"]; d != nil {
		root, _ := readTree(t, s, d.TreeDigest)
		if got := names(root.Files); !equal(got, []string{"visible.txt"}) {
			t.Errorf("opaque opq files: got %v; want only visible.txt", got)
		}
	}
}

func names2(fs []*repb.OutputFile) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Path)
	}
	return out
}

func TestCollectOutputPaths(t *testing.T) {
	s := newStore(t)
	root := putTree(t, s, []ent{{path: "src/in.txt", content: "in"}})
	b := newBuilder(t, s, nil)
	cmd := &repb.Command{WorkingDirectory: "src", OutputPaths: []string{"gen/d", "gen/dlink", "gen/f", "gen/flink", "gen/none"}}
	r := prepare(t, b, root, cmd)
	up := upperOf(r)
	writeFile(t, filepath.Join(up, "src/gen/f"), "f", 0o644)
	writeFile(t, filepath.Join(up, "src/gen/d/x"), "x", 0o755)
	os.Symlink("f", filepath.Join(up, "src/gen/flink"))
	os.Symlink("d", filepath.Join(up, "src/gen/dlink"))
	res := &repb.ActionResult{}
	if err := r.CollectOutputs(context.Background(), cmd, res); err != nil {
		t.Fatalf("CollectOutputs: %v", err)
	}
	if len(res.OutputFiles) != 1 || res.OutputFiles[0].Path != "gen/f" {
		t.Errorf("output files: got %v; want gen/f (relative to the working directory)", res.OutputFiles)
	}
	if len(res.OutputDirectories) != 1 || res.OutputDirectories[0].Path != "gen/d" {
		t.Errorf("output directories: got %v; want gen/d", res.OutputDirectories)
	} else {
		root, _ := readTree(t, s, res.OutputDirectories[0].TreeDigest)
		if len(root.Files) != 1 || !root.Files[0].IsExecutable {
			t.Errorf("gen/d: got %v; want one executable file", root.Files)
		}
	}
	if len(res.OutputSymlinks) != 2 {
		t.Errorf("output symlinks: got %v; want gen/dlink and gen/flink", res.OutputSymlinks)
	}
	if len(res.OutputFileSymlinks) != 1 || res.OutputFileSymlinks[0].Path != "gen/flink" {
		t.Errorf("deprecated output file symlinks: got %v; want gen/flink", res.OutputFileSymlinks)
	}
	if len(res.OutputDirectorySymlinks) != 1 || res.OutputDirectorySymlinks[0].Path != "gen/dlink" {
		t.Errorf("deprecated output directory symlinks: got %v; want gen/dlink", res.OutputDirectorySymlinks)
	}
}

func TestCollectOutputsRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmd     *repb.Command
		budgets execroot.Budgets
		setup   func(t *testing.T, up string)
		code    codes.Code
	}{
		{name: "OutputFileIsDirectory", cmd: &repb.Command{OutputFiles: []string{"o"}},
			setup: func(t *testing.T, up string) { writeFile(t, filepath.Join(up, "o/x"), "x", 0o644) }, code: codes.FailedPrecondition},
		{name: "OutputDirectoryIsFile", cmd: &repb.Command{OutputDirectories: []string{"o"}},
			setup: func(t *testing.T, up string) { writeFile(t, filepath.Join(up, "o"), "x", 0o644) }, code: codes.FailedPrecondition},
		{name: "OutputFileIsSymlinkToDirectory", cmd: &repb.Command{OutputFiles: []string{"o"}},
			setup: func(t *testing.T, up string) { os.Symlink("in", filepath.Join(up, "o")) }, code: codes.FailedPrecondition},
		{name: "OutputDirectoryIsSymlinkToFile", cmd: &repb.Command{OutputDirectories: []string{"o"}},
			setup: func(t *testing.T, up string) { os.Symlink("in/f", filepath.Join(up, "o")) }, code: codes.FailedPrecondition},
		{name: "AbsoluteOutputSymlink", cmd: &repb.Command{OutputFiles: []string{"o"}},
			setup: func(t *testing.T, up string) { os.Symlink("/etc/passwd", filepath.Join(up, "o")) }, code: codes.FailedPrecondition},
		{name: "AbsoluteSymlinkInOutputDirectory", cmd: &repb.Command{OutputDirectories: []string{"o"}},
			setup: func(t *testing.T, up string) {
				os.Mkdir(filepath.Join(up, "o"), 0o755)
				os.Symlink("/etc", filepath.Join(up, "o/l"))
			}, code: codes.FailedPrecondition},
		{name: "FileOverBudget", cmd: &repb.Command{OutputFiles: []string{"o"}}, budgets: execroot.Budgets{MaxOutputFileBytes: 3},
			setup: func(t *testing.T, up string) { writeFile(t, filepath.Join(up, "o"), "four", 0o644) }, code: codes.ResourceExhausted},
		{name: "TotalOverBudget", cmd: &repb.Command{OutputFiles: []string{"a", "b"}}, budgets: execroot.Budgets{MaxTotalOutputBytes: 5},
			setup: func(t *testing.T, up string) {
				writeFile(t, filepath.Join(up, "a"), "aaa", 0o644)
				writeFile(t, filepath.Join(up, "b"), "bbb", 0o644)
			}, code: codes.ResourceExhausted},
		{name: "EntriesOverBudget", cmd: &repb.Command{OutputDirectories: []string{"o"}}, budgets: execroot.Budgets{MaxEntries: 2},
			setup: func(t *testing.T, up string) {
				for _, n := range []string{"1", "2", "3"} {
					writeFile(t, filepath.Join(up, "o", n), n, 0o644)
				}
			}, code: codes.ResourceExhausted},
		{name: "InputDirectoryAsOutputDirectoryIsFine", cmd: &repb.Command{OutputDirectories: []string{"in"}}, setup: func(t *testing.T, up string) {}, code: codes.OK},
		{name: "MissingOutputsAreFine", cmd: &repb.Command{OutputFiles: []string{"a/b"}, OutputDirectories: []string{"c"}}, setup: func(t *testing.T, up string) {}, code: codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			root := putTree(t, s, []ent{{path: "in/f", content: "f"}})
			b := newBuilder(t, s, func(o *execroot.Options) { o.Budgets = tc.budgets })
			r := prepare(t, b, root, tc.cmd)
			tc.setup(t, upperOf(r))
			err := r.CollectOutputs(context.Background(), tc.cmd, &repb.ActionResult{})
			if got := rpcstatus.Code(err); got != tc.code {
				t.Errorf("CollectOutputs: got %v (%v), want %v", got, err, tc.code)
			}
		})
	}
}

// Parents Prepare creates for outputs are part of the merged view even when
// the action leaves them empty, as they would be in the real overlay.
func TestCollectSeesCreatedParents(t *testing.T) {
	s := newStore(t)
	root := putTree(t, s, []ent{{path: "a/in.txt", content: "in"}})
	b := newBuilder(t, s, nil)
	cmd := &repb.Command{OutputFiles: []string{"a/b/c/f"}, OutputDirectories: []string{"a"}}
	r := prepare(t, b, root, cmd)
	res := &repb.ActionResult{}
	if err := r.CollectOutputs(context.Background(), cmd, res); err != nil {
		t.Fatalf("CollectOutputs: %v", err)
	}
	if len(res.OutputFiles) != 0 || len(res.OutputDirectories) != 1 {
		t.Fatalf("result: got %v; want only the output directory a", res)
	}
	top, children := readTree(t, s, res.OutputDirectories[0].TreeDigest)
	if !equal(names(top.Files), []string{"in.txt"}) || !equal(names(top.Directories), []string{"b"}) {
		t.Errorf("a: got files %v dirs %v; want [in.txt] and [b]", names(top.Files), names(top.Directories))
	}
	if len(children) != 2 {
		t.Errorf("a: got %d child directories; want 2 (b and the empty c)", len(children))
	}
}

// TestOutputDirectoryFormat checks that a Command asking for separately
// stored Directories gets root_directory_digest, with the root and every
// descendant Directory in the store and matching the Tree, while the
// default (TREE_ONLY) gets the Tree alone.
func TestOutputDirectoryFormat(t *testing.T) {
	for _, tc := range []struct {
		format   repb.Command_OutputDirectoryFormat
		withDirs bool
	}{
		{repb.Command_TREE_ONLY, false},
		{repb.Command_DIRECTORY_ONLY, true},
		{repb.Command_TREE_AND_DIRECTORY, true},
		{repb.Command_OutputDirectoryFormat(99), false},
	} {
		t.Run(tc.format.String(), func(t *testing.T) {
			s := newStore(t)
			root := putTree(t, s, []ent{{path: "in.txt", content: "in"}})
			b := newBuilder(t, s, nil)
			cmd := &repb.Command{OutputDirectories: []string{"out"}, OutputDirectoryFormat: tc.format}
			r := prepare(t, b, root, cmd)
			up := upperOf(r)
			writeFile(t, filepath.Join(up, "out/a/x"), "x", 0o644)
			writeFile(t, filepath.Join(up, "out/a/b/y"), "y", 0o644)
			writeFile(t, filepath.Join(up, "out/z"), "z", 0o644)
			res := &repb.ActionResult{}
			if err := r.CollectOutputs(context.Background(), cmd, res); err != nil {
				t.Fatalf("CollectOutputs: %v", err)
			}
			if len(res.OutputDirectories) != 1 {
				t.Fatalf("output directories: %v; want out", res.OutputDirectories)
			}
			od := res.OutputDirectories[0]
			top, children := readTree(t, s, od.TreeDigest)
			if !tc.withDirs {
				if od.RootDirectoryDigest != nil {
					t.Errorf("root_directory_digest = %v; want unset for %v", od.RootDirectoryDigest, tc.format)
				}
				return
			}
			_, wantRoot, _ := digest.OfMessage(top)
			got, err := digest.FromProto(od.RootDirectoryDigest)
			if err != nil || got != wantRoot {
				t.Fatalf("root_directory_digest = %v, %v; want %s, the Tree's root", od.RootDirectoryDigest, err, wantRoot)
			}
			if len(children) != 2 {
				t.Errorf("Tree has %d children; want 2 (a and a/b)", len(children))
			}
			for _, d := range append([]digest.Digest{wantRoot}, keys(children)...) {
				if !s.has(d) {
					t.Errorf("Directory %s is not stored on its own", d)
				}
			}
		})
	}
}

func keys[K comparable, V any](m map[K]V) []K {
	var out []K
	for k := range m {
		out = append(out, k)
	}
	return out
}
