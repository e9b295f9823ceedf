package execroot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
	"github.com/actiond/actiond/go/rpcstatus"
	"github.com/actiond/actiond/go/sandbox"
)

func TestPrepareMaterializes(t *testing.T) {
	s := newStore(t)
	root := putTree(t, s, []ent{
		{path: "a.txt", content: "alpha"},
		{path: "bin/tool", content: "#!/bin/sh\n", exec: true},
		{path: "empty", content: ""},
		{path: "emptydir", dir: true},
		{path: "x/y/z/deep.txt", content: "deep"},
		{path: "x/link", target: "y/z/deep.txt"},
		{path: "x/y/up", target: "../../a.txt"},
		{path: "dangling", target: "nowhere"},
	})
	b := newBuilder(t, s, nil)
	r := prepare(t, b, root, &repb.Command{OutputFiles: []string{"out/o.txt"}})
	lower := lowerOf(r)

	for _, tc := range []struct {
		path    string
		content string
		mode    os.FileMode
	}{
		{"a.txt", "alpha", 0o444},
		{"bin/tool", "#!/bin/sh\n", 0o555},
		{"empty", "", 0o444},
		{"x/y/z/deep.txt", "deep", 0o444},
	} {
		p := filepath.Join(lower, tc.path)
		got, err := os.ReadFile(p)
		if err != nil || string(got) != tc.content {
			t.Errorf("%s: got %q, %v; want %q", tc.path, got, err, tc.content)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.mode {
			t.Errorf("%s: got mode %v, want %v", tc.path, fi.Mode().Perm(), tc.mode)
		}
	}
	for path, want := range map[string]string{"x/link": "y/z/deep.txt", "x/y/up": "../../a.txt", "dangling": "nowhere"} {
		got, err := os.Readlink(filepath.Join(lower, path))
		if err != nil || got != want {
			t.Errorf("symlink %s: got %q, %v; want %q", path, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(lower, "emptydir")); err != nil || !fi.IsDir() {
		t.Errorf("emptydir: got %v, %v; want a directory", fi, err)
	}
	// Hard links, not copies: the same inode as the CAS blob.
	if got, want := inode(t, filepath.Join(lower, "a.txt")), inode(t, s.Path(digest.OfBytes([]byte("alpha")))); got != want {
		t.Errorf("a.txt: inode %d, CAS blob inode %d; want a hard link", got, want)
	}
	if got, want := inode(t, filepath.Join(lower, "bin/tool")), inode(t, s.execPath(t, digest.OfBytes([]byte("#!/bin/sh\n")))); got != want {
		t.Errorf("bin/tool: inode %d, CAS executable inode %d; want a hard link", got, want)
	}
	// The missing output parent exists (in the cached lower tree).
	if fi, err := os.Stat(filepath.Join(lower, "out")); err != nil || !fi.IsDir() {
		t.Errorf("output parent out: got %v, %v; want a directory", fi, err)
	}
	// Input directories are locked (the daemon's, sticky, writable by the
	// action's group); the output parent the server made is the action's.
	wantDirs := []struct {
		dir      string
		uid, gid uint32
		mode     uint32
	}{
		{"x", 0, 65534, 0o1775},
		{".", 0, 65534, 0o1775},
		{"x/y", 0, 65534, 0o1775},
		{"out", 65534, 65534, 0o755},
	}
	for _, w := range wantDirs {
		var st syscallStat
		if err := lstat(filepath.Join(lower, w.dir), &st); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 && (st.Uid != w.uid || st.Gid != w.gid) {
			t.Errorf("lower directory %s: owner %d:%d; want %d:%d", w.dir, st.Uid, st.Gid, w.uid, w.gid)
		}
		if got := uint32(st.Mode) & 0o7777; got != w.mode {
			t.Errorf("lower directory %s: mode %04o; want %04o", w.dir, got, w.mode)
		}
	}
	if st := b.Stats(); st.FilesLinked != 3 || st.FilesCopied != 0 {
		t.Errorf("stats: linked %d, copied %d; want 3 (the empty file is created), 0", st.FilesLinked, st.FilesCopied)
	}
}

// TestFlushFailureRetiresCachedTrees: a tree built before a filesystem
// flush failed may link an executable variant whose bytes were lost, so the
// next Prepare builds the lower tree and the directory-cache tree anew
// (while a root still using the old tree keeps it until it closes), and
// the old trees leave the disk.
func TestFlushFailureRetiresCachedTrees(t *testing.T) {
	s := newStore(t)
	var ents []ent
	for i := range 40 { // enough files for a directory-cache bind
		ents = append(ents, ent{path: fmt.Sprintf("lib/f%02d", i), content: fmt.Sprint(i), exec: true})
	}
	root := putTree(t, s, append(ents, ent{path: "main", content: "main", exec: true}))
	b := newBuilder(t, s, nil)
	cmd := &repb.Command{OutputFiles: []string{"out"}}
	r1 := prepare(t, b, root, cmd)
	r1.Close()
	treePins := s.pinned()         // of the cached lower and directory-cache trees
	r2 := prepare(t, b, root, cmd) // held across the failure
	if st := b.Stats(); st.RootHits != 1 || st.DirHits != 1 {
		t.Fatalf("stats before the failure: %+v; want the trees reused once", st)
	}
	oldLower := lowerOf(r2)
	s.failedFlushes.Add(1)
	r3 := prepare(t, b, root, cmd)
	if st := b.Stats(); st.RootMisses != 2 || st.DirMisses != 2 {
		t.Errorf("stats after the failure: %+v; want the lower and directory-cache trees built again", st)
	}
	if lowerOf(r3) == oldLower {
		t.Errorf("Prepare after a failed flush reused lower tree %s", oldLower)
	}
	if _, err := os.Stat(oldLower); err != nil {
		t.Errorf("old lower tree in use by another root: %v; want it kept until that root closes", err)
	}
	r2.Close()
	r3.Close()
	b.Close()
	if _, err := os.Stat(oldLower); !os.IsNotExist(err) {
		t.Errorf("old lower tree %s after its last root closed: %v; want it removed", oldLower, err)
	}
	if n := s.pinned(); n != treePins {
		t.Errorf("%d pins left; want %d, those of the new trees alone", n, treePins)
	}
}

func TestPrepareCachesRoots(t *testing.T) {
	s := newStore(t)
	root := putTree(t, s, []ent{{path: "a/f", content: "f"}, {path: "b", content: "b"}})
	b := newBuilder(t, s, nil)
	cmd := &repb.Command{OutputFiles: []string{"out"}}
	r1 := prepare(t, b, root, cmd)
	linked := b.Stats().FilesLinked
	r2 := prepare(t, b, root, cmd)
	if lowerOf(r1) != lowerOf(r2) {
		t.Errorf("lower trees differ: %s and %s; want one cached tree", lowerOf(r1), lowerOf(r2))
	}
	if upperOf(r1) == upperOf(r2) {
		t.Errorf("both roots have upper dir %s; want one per action", upperOf(r1))
	}
	st := b.Stats()
	if st.RootHits != 1 || st.RootMisses != 1 || st.TreeHits != 1 || st.FilesLinked != linked {
		t.Errorf("stats after second Prepare: %+v; want one root hit, one tree hit, no new links", st)
	}
	r1.Close()
	r2.Close()
	b.Close() // waits for the background removal
	if _, err := os.Stat(upperOf(r1)); !os.IsNotExist(err) {
		t.Errorf("upper dir after Close: %v; want it removed", err)
	}
	if got := s.pinned(); got == 0 {
		t.Errorf("pins after Close with the tree still cached: 0; want the cache to keep its pins")
	}
}

func bigTree(prefix string, n int) []ent {
	var ents []ent
	for i := range n {
		ents = append(ents, ent{path: fmt.Sprintf("%s/f%03d", prefix, i), content: fmt.Sprintf("%s %d", prefix, i)})
	}
	return ents
}

func TestPrepareBindsLargeSubtrees(t *testing.T) {
	s := newStore(t)
	ents := append(bigTree("tool/lib", 40), bigTree("src", 40)...)
	ents = append(ents, ent{path: "small/f", content: "small"})
	root := putTree(t, s, ents)
	b := newBuilder(t, s, nil)
	// src holds an output, so it must be writable and is linked; tool is
	// bound read-only from the directory cache.
	r := prepare(t, b, root, &repb.Command{OutputFiles: []string{"src/out.o"}})
	ms := r.Mounts("/execroot")
	if len(ms) != 2 {
		t.Fatalf("mounts: got %+v; want the overlay and one bind", ms)
	}
	bind := ms[1]
	if bind.Kind != sandbox.Bind || bind.Target != "/execroot/tool" || !bind.ReadOnly {
		t.Errorf("bind: got %+v; want a read-only bind on /execroot/tool", bind)
	}
	if got, err := os.ReadFile(filepath.Join(bind.Source, "lib/f007")); err != nil || string(got) != "tool/lib 7" {
		t.Errorf("bound tool/lib/f007: got %q, %v", got, err)
	}
	if ents, err := os.ReadDir(filepath.Join(lowerOf(r), "tool")); err != nil || len(ents) != 0 {
		t.Errorf("lower tool: got %v, %v; want an empty mount point", ents, err)
	}
	if _, err := os.Stat(filepath.Join(lowerOf(r), "src/f001")); err != nil {
		t.Errorf("lower src/f001: %v; want it linked into the lower tree", err)
	}
	if ms[0].Kind != sandbox.Overlay || ms[0].Target != "/execroot" || ms[0].Upper == "" || ms[0].Work == "" {
		t.Errorf("overlay: got %+v", ms[0])
	}

	// Another root sharing tool/ reuses the directory cache.
	root2 := putTree(t, s, append(bigTree("tool/lib", 40), ent{path: "other", content: "o"}))
	r2 := prepare(t, b, root2, &repb.Command{})
	if ms2 := r2.Mounts("/x"); len(ms2) != 2 || ms2[1].Source != bind.Source {
		t.Errorf("second root mounts: got %+v; want the same dircache source %s", ms2, bind.Source)
	}
	if st := b.Stats(); st.DirHits != 1 || st.DirMisses != 1 {
		t.Errorf("stats: %+v; want one dircache hit and one miss", st)
	}
}

func TestPrepareConcurrent(t *testing.T) {
	s := newStore(t)
	root := putTree(t, s, append(bigTree("d1", 50), bigTree("d2", 5)...))
	b := newBuilder(t, s, nil)
	const n = 8
	roots := make([]*execroot.Root, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			roots[i], errs[i] = b.Prepare(context.Background(), root, &repb.Command{OutputFiles: []string{"o"}}, execroot.PrepareOptions{})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Prepare %d: %v", i, errs[i])
		}
		defer roots[i].Close()
		if lowerOf(roots[i]) != lowerOf(roots[0]) {
			t.Errorf("root %d lower %s, root 0 lower %s; want one shared tree", i, lowerOf(roots[i]), lowerOf(roots[0]))
		}
		if got, err := os.ReadFile(filepath.Join(lowerOf(roots[i]), "d2/f004")); err != nil || string(got) != "d2 4" {
			t.Errorf("root %d d2/f004: got %q, %v", i, got, err)
		}
	}
	if st := b.Stats(); st.RootMisses != 1 || st.DirMisses != 1 || st.FilesLinked != 55 {
		t.Errorf("stats: %+v; want each tree built once (55 links)", st)
	}
}

func TestEvictionReleasesPins(t *testing.T) {
	s := newStore(t)
	b := newBuilder(t, s, func(o *execroot.Options) { o.MaxCacheEntries = 1 })
	r1 := prepare(t, b, putTree(t, s, []ent{{path: "a", content: "1"}}), &repb.Command{})
	r2 := prepare(t, b, putTree(t, s, []ent{{path: "a", content: "2"}}), &repb.Command{})
	l1 := lowerOf(r1)
	r1.Close()
	if _, err := os.Stat(l1); !os.IsNotExist(err) {
		t.Errorf("first lower tree after Close over the limit: %v; want it evicted", err)
	}
	if got := s.pinned(); got != 1 {
		t.Errorf("pins: got %d; want 1 (the second tree's)", got)
	}
	r2.Close()
	if st := b.Stats(); st.Evictions != 1 || st.Entries != 1 {
		t.Errorf("stats: %+v; want one eviction, one entry kept", st)
	}
}

func TestNewCleansWorkDir(t *testing.T) {
	s := newStore(t)
	wd := filepath.Join(t.TempDir(), "work")
	b, err := execroot.New(context.Background(), execroot.Options{Store: s, WorkDir: wd})
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Prepare(context.Background(), putTree(t, s, []ent{{path: "d/a", content: "1"}}), &repb.Command{}, execroot.PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lower := lowerOf(r)
	// A crash: the Root is not closed and its trees stay. Make a directory
	// unwritable too. The crashed process is gone, though, so stop the
	// first Builder's background work, which would otherwise keep making
	// per-action directories while the second New cleans up.
	if err := os.Chmod(filepath.Join(upperOf(r)), 0o555); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := os.Stat(lower); err != nil {
		t.Fatalf("lower tree before the restart: %v; want it left in place", err)
	}
	b2, err := execroot.New(context.Background(), execroot.Options{Store: s, WorkDir: wd})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if _, err := os.Stat(lower); !os.IsNotExist(err) {
		t.Errorf("lower tree of the previous run: %v; want it removed", err)
	}
}

// missingSubjects returns the PreconditionFailure subjects of err.
func missingSubjects(err error) []string {
	st, _ := status.FromError(err)
	var subjects []string
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.Violations {
				if v.Type == "MISSING" {
					subjects = append(subjects, v.Subject)
				}
			}
		}
	}
	return subjects
}

func subject(d digest.Digest) string { return fmt.Sprintf("blobs/%s/%d", d.Hash, d.Size) }

func TestPrepareRejects(t *testing.T) {
	s := newStore(t)
	good := putBlob(t, s, "good")
	fileNode := func(name string) *repb.FileNode { return &repb.FileNode{Name: name, Digest: good.Proto()} }
	absent1 := digest.OfBytes([]byte("absent one"))
	absent2 := digest.OfBytes([]byte("absent two"))
	absentDir := digest.OfBytes([]byte("absent directory"))
	sub := putDir(t, s, &repb.Directory{Files: []*repb.FileNode{fileNode("f")}})
	subNode := func(name string) *repb.DirectoryNode { return &repb.DirectoryNode{Name: name, Digest: sub.Proto()} }
	dirWith := func(d *repb.Directory) digest.Digest { return putDir(t, s, d) }
	nested := func(inner *repb.Directory) digest.Digest {
		return dirWith(&repb.Directory{Directories: []*repb.DirectoryNode{{Name: "a", Digest: dirWith(inner).Proto()}}})
	}
	inputs := dirWith(&repb.Directory{
		Files:       []*repb.FileNode{fileNode("file")},
		Directories: []*repb.DirectoryNode{subNode("dir")},
		Symlinks:    []*repb.SymlinkNode{{Name: "link", Target: "dir"}},
	})
	garbage := digest.OfBytes([]byte{0xff, 0xff, 0xff})
	if err := s.Put(context.Background(), garbage, []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		root    digest.Digest
		cmd     *repb.Command
		code    codes.Code
		missing []string
	}{
		{name: "MissingRoot", root: absentDir, code: codes.FailedPrecondition, missing: []string{subject(absentDir)}},
		{name: "MissingDirectoryAndFiles", root: dirWith(&repb.Directory{
			Files:       []*repb.FileNode{{Name: "a", Digest: absent1.Proto()}, {Name: "b", Digest: absent2.Proto()}, fileNode("c")},
			Directories: []*repb.DirectoryNode{{Name: "d", Digest: absentDir.Proto()}},
		}), code: codes.FailedPrecondition, missing: []string{subject(absent1), subject(absent2), subject(absentDir)}},
		{name: "NotAProto", root: garbage, code: codes.InvalidArgument},
		{name: "DotDotName", root: dirWith(&repb.Directory{Files: []*repb.FileNode{fileNode("..")}}), code: codes.InvalidArgument},
		{name: "DotName", root: dirWith(&repb.Directory{Directories: []*repb.DirectoryNode{subNode(".")}}), code: codes.InvalidArgument},
		{name: "SlashName", root: dirWith(&repb.Directory{Files: []*repb.FileNode{fileNode("a/b")}}), code: codes.InvalidArgument},
		{name: "EmptyName", root: dirWith(&repb.Directory{Files: []*repb.FileNode{fileNode("")}}), code: codes.InvalidArgument},
		{name: "NULName", root: dirWith(&repb.Directory{Files: []*repb.FileNode{fileNode("a\x00b")}}), code: codes.InvalidArgument},
		{name: "UnsortedFiles", root: dirWith(&repb.Directory{Files: []*repb.FileNode{fileNode("b"), fileNode("a")}}), code: codes.InvalidArgument},
		{name: "DuplicateFiles", root: dirWith(&repb.Directory{Files: []*repb.FileNode{fileNode("a"), fileNode("a")}}), code: codes.InvalidArgument},
		{name: "UnsortedDirectories", root: dirWith(&repb.Directory{Directories: []*repb.DirectoryNode{subNode("b"), subNode("a")}}), code: codes.InvalidArgument},
		{name: "FileAndDirectorySameName", root: dirWith(&repb.Directory{Files: []*repb.FileNode{fileNode("a")}, Directories: []*repb.DirectoryNode{subNode("a")}}), code: codes.InvalidArgument},
		{name: "SymlinkAndFileSameName", root: dirWith(&repb.Directory{Files: []*repb.FileNode{fileNode("a")}, Symlinks: []*repb.SymlinkNode{{Name: "a", Target: "x"}}}), code: codes.InvalidArgument},
		{name: "BadFileDigest", root: dirWith(&repb.Directory{Files: []*repb.FileNode{{Name: "a", Digest: &repb.Digest{Hash: "xyz", SizeBytes: 1}}}}), code: codes.InvalidArgument},
		{name: "AbsoluteSymlink", root: dirWith(&repb.Directory{Symlinks: []*repb.SymlinkNode{{Name: "l", Target: "/etc/passwd"}}}), code: codes.InvalidArgument},
		{name: "SymlinkEscapesRoot", root: dirWith(&repb.Directory{Symlinks: []*repb.SymlinkNode{{Name: "l", Target: "../x"}}}), code: codes.InvalidArgument},
		{name: "NestedSymlinkEscapesRoot", root: nested(&repb.Directory{Symlinks: []*repb.SymlinkNode{{Name: "l", Target: "b/../../../x"}}}), code: codes.InvalidArgument},
		{name: "EmptySymlinkTarget", root: dirWith(&repb.Directory{Symlinks: []*repb.SymlinkNode{{Name: "l", Target: ""}}}), code: codes.InvalidArgument},
		{name: "NestedSymlinkUpIsFine", root: nested(&repb.Directory{Symlinks: []*repb.SymlinkNode{{Name: "l", Target: "../x"}}}), code: codes.OK},
		{name: "OutputDotDot", root: inputs, cmd: &repb.Command{OutputFiles: []string{"a/../../x"}}, code: codes.InvalidArgument},
		{name: "OutputAbsolute", root: inputs, cmd: &repb.Command{OutputFiles: []string{"/x"}}, code: codes.InvalidArgument},
		{name: "OutputTrailingSlash", root: inputs, cmd: &repb.Command{OutputDirectories: []string{"x/"}}, code: codes.InvalidArgument},
		{name: "OutputEmptyComponent", root: inputs, cmd: &repb.Command{OutputPaths: []string{"a//b"}}, code: codes.InvalidArgument},
		{name: "OutputNUL", root: inputs, cmd: &repb.Command{OutputFiles: []string{"a\x00"}}, code: codes.InvalidArgument},
		{name: "OutputFileEmpty", root: inputs, cmd: &repb.Command{OutputFiles: []string{""}}, code: codes.InvalidArgument},
		{name: "OutputParentIsInputFile", root: inputs, cmd: &repb.Command{OutputFiles: []string{"file/x"}}, code: codes.InvalidArgument},
		{name: "OutputParentIsInputSymlink", root: inputs, cmd: &repb.Command{OutputDirectories: []string{"link/x"}}, code: codes.InvalidArgument},
		{name: "OutputUnderWorkingDirectoryFile", root: inputs, cmd: &repb.Command{WorkingDirectory: "dir", OutputFiles: []string{"f/x"}}, code: codes.InvalidArgument},
		{name: "WorkingDirectoryDotDot", root: inputs, cmd: &repb.Command{WorkingDirectory: ".."}, code: codes.InvalidArgument},
		{name: "WorkingDirectoryIsFile", root: inputs, cmd: &repb.Command{WorkingDirectory: "file"}, code: codes.InvalidArgument},
		{name: "OutputInsideInputDirIsFine", root: inputs, cmd: &repb.Command{WorkingDirectory: "dir", OutputFiles: []string{"new/x"}, OutputDirectories: []string{""}}, code: codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t, s, nil)
			cmd := tc.cmd
			if cmd == nil {
				cmd = &repb.Command{}
			}
			r, err := b.Prepare(context.Background(), tc.root, cmd, execroot.PrepareOptions{})
			if r != nil {
				r.Close()
			}
			if got := rpcstatus.Code(err); got != tc.code {
				t.Fatalf("Prepare: got %v (%v), want %v", got, err, tc.code)
			}
			if tc.missing != nil {
				got := missingSubjects(err)
				wantSet := map[string]bool{}
				for _, w := range tc.missing {
					wantSet[w] = true
				}
				if len(got) != len(tc.missing) {
					t.Fatalf("missing: got %v, want %v", got, tc.missing)
				}
				for _, g := range got {
					if !wantSet[g] {
						t.Errorf("missing: got %v, want %v", got, tc.missing)
					}
				}
			}
			if s.pinned() != 0 && tc.code != codes.OK {
				t.Errorf("pins after a failed Prepare: %d; want 0", s.pinned())
			}
		})
	}
}

func TestPrepareDepthLimit(t *testing.T) {
	s := newStore(t)
	d := putDir(t, s, &repb.Directory{})
	for range 130 {
		d = putDir(t, s, &repb.Directory{Directories: []*repb.DirectoryNode{{Name: "d", Digest: d.Proto()}}})
	}
	b := newBuilder(t, s, nil)
	_, err := b.Prepare(context.Background(), d, &repb.Command{}, execroot.PrepareOptions{})
	if got := rpcstatus.Code(err); got != codes.InvalidArgument {
		t.Errorf("Prepare of a 131-level tree: got %v (%v), want InvalidArgument", got, err)
	}
}

func TestPrepareCancelled(t *testing.T) {
	s := newStore(t)
	root := putTree(t, s, bigTree("d", 10))
	b := newBuilder(t, s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.Prepare(ctx, root, &repb.Command{}, execroot.PrepareOptions{})
	if got := rpcstatus.Code(err); got != codes.Canceled {
		t.Errorf("Prepare with a cancelled context: got %v (%v), want Canceled", got, err)
	}
	// Nothing half-built is remembered: the next Prepare works.
	r := prepare(t, b, root, &repb.Command{})
	if _, err := os.Stat(filepath.Join(lowerOf(r), "d/f003")); err != nil {
		t.Errorf("after a cancelled Prepare: %v", err)
	}
}

func TestPrepareCapsBinds(t *testing.T) {
	s := newStore(t)
	var ents []ent
	for i := range 20 {
		ents = append(ents, bigTree(fmt.Sprintf("d%02d", i), 32+i)...)
	}
	root := putTree(t, s, ents)
	b := newBuilder(t, s, nil)
	r := prepare(t, b, root, &repb.Command{})
	ms := r.Mounts("/e")
	if got := len(ms) - 1; got != 16 {
		t.Fatalf("binds: got %d; want 16", got)
	}
	// The smallest subtrees (d00..d03) are linked instead.
	if ms[1].Target != "/e/d04" {
		t.Errorf("first bind: got %s; want /e/d04 (the four smallest linked)", ms[1].Target)
	}
	if _, err := os.Stat(filepath.Join(lowerOf(r), "d00/f031")); err != nil {
		t.Errorf("d00/f031 in the lower tree: %v", err)
	}
}

// Many actions over a few roots with a cache too small for them: trees are
// built, shared, evicted and rebuilt concurrently, and every action still
// sees its own inputs.
func TestPrepareChurn(t *testing.T) {
	s := newStore(t)
	var roots []digest.Digest
	for i := range 4 {
		roots = append(roots, putTree(t, s, append(bigTree("shared", 40), ent{path: "id", content: fmt.Sprint(i)})))
	}
	b := newBuilder(t, s, func(o *execroot.Options) { o.MaxCacheEntries = 2 })
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				k := (g + i) % len(roots)
				r, err := b.Prepare(context.Background(), roots[k], &repb.Command{OutputFiles: []string{"out"}}, execroot.PrepareOptions{})
				if err != nil {
					errs <- err
					return
				}
				got, err := os.ReadFile(filepath.Join(lowerOf(r), "id"))
				if err != nil || string(got) != fmt.Sprint(k) {
					errs <- fmt.Errorf("root %d: id %q, %v", k, got, err)
				}
				if ms := r.Mounts("/e"); len(ms) != 2 {
					errs <- fmt.Errorf("root %d: mounts %+v", k, ms)
				} else if _, err := os.Stat(filepath.Join(ms[1].Source, "f039")); err != nil {
					errs <- fmt.Errorf("root %d: bound tree: %v", k, err)
				}
				r.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := b.Stats(); st.Evictions == 0 {
		t.Errorf("stats: %+v; want evictions with 2 cache entries for 5 trees", st)
	}
}
