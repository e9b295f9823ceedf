package execroot_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
)

// ent is one entry of a test input tree: a file (content), an executable, a
// symlink (target) or an empty directory (dir).
type ent struct {
	path    string
	content string
	exec    bool
	target  string
	dir     bool
}

type tnode struct {
	files    map[string]ent
	links    map[string]string
	children map[string]*tnode
}

func newTnode() *tnode {
	return &tnode{files: map[string]ent{}, links: map[string]string{}, children: map[string]*tnode{}}
}

// putTree stores the blobs and Directory protos of ents and returns the root
// digest.
func putTree(t testing.TB, s *testStore, ents []ent) digest.Digest {
	t.Helper()
	root := newTnode()
	for _, e := range ents {
		comps := strings.Split(e.path, "/")
		n := root
		last := len(comps) - 1
		if e.dir {
			last++
		}
		for _, c := range comps[:last] {
			if n.children[c] == nil {
				n.children[c] = newTnode()
			}
			n = n.children[c]
		}
		if e.dir {
			continue
		}
		name := comps[len(comps)-1]
		if e.target != "" {
			n.links[name] = e.target
		} else {
			n.files[name] = e
		}
	}
	return putNode(t, s, root)
}

func putNode(t testing.TB, s *testStore, n *tnode) digest.Digest {
	dir := &repb.Directory{}
	for _, name := range sortedKeys(n.files) {
		e := n.files[name]
		d := putBlob(t, s, e.content)
		dir.Files = append(dir.Files, &repb.FileNode{Name: name, Digest: d.Proto(), IsExecutable: e.exec})
	}
	for _, name := range sortedKeys(n.children) {
		d := putNode(t, s, n.children[name])
		dir.Directories = append(dir.Directories, &repb.DirectoryNode{Name: name, Digest: d.Proto()})
	}
	for _, name := range sortedKeys(n.links) {
		dir.Symlinks = append(dir.Symlinks, &repb.SymlinkNode{Name: name, Target: n.links[name]})
	}
	return putDir(t, s, dir)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func putBlob(t testing.TB, s *testStore, content string) digest.Digest {
	t.Helper()
	d := digest.OfBytes([]byte(content))
	if err := s.Put(context.Background(), d, []byte(content)); err != nil {
		t.Fatal(err)
	}
	return d
}

func putDir(t testing.TB, s *testStore, dir *repb.Directory) digest.Digest {
	t.Helper()
	b, d, err := digest.OfMessage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), d, b); err != nil {
		t.Fatal(err)
	}
	return d
}

func newBuilder(t testing.TB, s *testStore, mod func(*execroot.Options)) *execroot.Builder {
	t.Helper()
	opts := execroot.Options{Store: s, WorkDir: filepath.Join(t.TempDir(), "work")}
	if mod != nil {
		mod(&opts)
	}
	b, err := execroot.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func prepare(t testing.TB, b *execroot.Builder, root digest.Digest, cmd *repb.Command) *execroot.Root {
	t.Helper()
	r, err := b.Prepare(context.Background(), root, cmd, execroot.PrepareOptions{})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func lowerOf(r *execroot.Root) string { return r.Mounts("/execroot")[0].Lower[0] }
func upperOf(r *execroot.Root) string { return r.Mounts("/execroot")[0].Upper }

func inode(t testing.TB, p string) uint64 {
	t.Helper()
	var st syscallStat
	if err := lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func writeFile(t testing.TB, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
