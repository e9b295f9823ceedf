package execroot

import (
	"context"
	"path"
	"strconv"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// fuzzStore is a BlobStore of Directory protos held in memory: ReadAll and
// FindMissing answer from blobs, and file blobs (which fetchTree only asks
// FindMissing about) are present unless their size is odd.
type fuzzStore struct {
	BlobStore // nil: fetchTree calls nothing else
	blobs     map[digest.Digest][]byte
}

func (s *fuzzStore) ReadAll(_ context.Context, d digest.Digest, limit int64) ([]byte, error) {
	b, ok := s.blobs[d]
	if !ok {
		return nil, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
	}
	if int64(len(b)) > limit {
		return nil, rpcstatus.Newf(codes.InvalidArgument, "blob %s over the limit", d)
	}
	return b, nil
}

func (s *fuzzStore) FindMissing(_ context.Context, ds []digest.Digest) []digest.Digest {
	var missing []digest.Digest
	for _, d := range ds {
		if _, ok := s.blobs[d]; !ok && d.Size%2 == 1 {
			missing = append(missing, d)
		}
	}
	return missing
}

// checkValidDirectory fails unless dir is what validateDirectory promises
// for a Directory occurring depth levels below the input root: valid
// single-component names, each list strictly sorted, no name used twice,
// valid digests, and relative symlink targets that stay inside the root.
// It is written without the package's helpers, so that it checks them.
func checkValidDirectory(t *testing.T, dir *repb.Directory, depth int) {
	t.Helper()
	names := map[string]bool{}
	checkName := func(kind, name, prev string, i int) {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || len(name) > maxNameLen {
			t.Fatalf("accepted the %s name %q", kind, name)
		}
		if i > 0 && prev >= name {
			t.Fatalf("accepted %s names out of order: %q before %q", kind, prev, name)
		}
		if names[name] {
			t.Fatalf("accepted the name %q twice", name)
		}
		names[name] = true
	}
	checkDigest := func(name string, d *repb.Digest) {
		if _, err := digest.New(d.GetHash(), d.GetSizeBytes()); d == nil || err != nil {
			t.Fatalf("accepted %q with the digest %v", name, d)
		}
	}
	for i, f := range dir.Files {
		checkName("file", f.Name, nameAt(dir.Files, i-1), i)
		checkDigest(f.Name, f.Digest)
	}
	for i, d := range dir.Directories {
		checkName("directory", d.Name, nameAt(dir.Directories, i-1), i)
		checkDigest(d.Name, d.Digest)
	}
	// The root as seen from a Directory depth levels below it.
	here := "/root" + strings.Repeat("/d", depth)
	for i, l := range dir.Symlinks {
		checkName("symlink", l.Name, nameAt(dir.Symlinks, i-1), i)
		if l.Target == "" || strings.HasPrefix(l.Target, "/") || strings.IndexByte(l.Target, 0) >= 0 {
			t.Fatalf("accepted the symlink %q to %q", l.Name, l.Target)
		}
		// Lexically, as the validator promises: a ".." climbs from the
		// place reached so far, so check every prefix of the target.
		comps := strings.Split(l.Target, "/")
		for j := range comps {
			p := path.Join(here, strings.Join(comps[:j+1], "/"))
			if p != "/root" && !strings.HasPrefix(p, "/root/") {
				t.Fatalf("accepted the symlink %q to %q at depth %d, which leaves the input root", l.Name, l.Target, depth)
			}
		}
	}
}

// nameAt returns the name of list[i], or "" before the first.
func nameAt[N interface{ GetName() string }](list []N, i int) string {
	if i < 0 {
		return ""
	}
	return list[i].GetName()
}

// FuzzValidateDirectory feeds arbitrary bytes, as a Directory blob, to the
// validation every input Directory of an action goes through. A blob that
// is not a Directory proto must be refused as INVALID_ARGUMENT like any
// invalid Directory; an accepted one must satisfy checkValidDirectory at
// the depth it was validated for.
func FuzzValidateDirectory(f *testing.F) {
	file := &repb.Digest{Hash: digest.Empty.Hash, SizeBytes: 0}
	for _, seed := range []struct {
		dir   *repb.Directory
		depth uint8
	}{
		{&repb.Directory{}, 0},
		{&repb.Directory{
			Files:       []*repb.FileNode{{Name: "a", Digest: file}, {Name: "b", Digest: file, IsExecutable: true}},
			Directories: []*repb.DirectoryNode{{Name: "c", Digest: file}},
			Symlinks:    []*repb.SymlinkNode{{Name: "d", Target: "a"}, {Name: "e", Target: "../x"}},
		}, 1},
		{&repb.Directory{Symlinks: []*repb.SymlinkNode{{Name: "up", Target: "x/../../.."}}}, 2},
		{&repb.Directory{Files: []*repb.FileNode{{Name: "b", Digest: file}, {Name: "a", Digest: file}}}, 0},
		{&repb.Directory{Files: []*repb.FileNode{{Name: "a", Digest: file}}, Symlinks: []*repb.SymlinkNode{{Name: "a", Target: "b"}}}, 0},
		{&repb.Directory{Directories: []*repb.DirectoryNode{{Name: "..", Digest: file}}}, 0},
		{&repb.Directory{Files: []*repb.FileNode{{Name: ".", Digest: file}}}, 0},
		{&repb.Directory{Files: []*repb.FileNode{{Name: "a\x00", Digest: file}}}, 0},
		{&repb.Directory{Files: []*repb.FileNode{{Name: "a", Digest: &repb.Digest{Hash: "x", SizeBytes: -1}}}}, 0},
	} {
		b, err := proto.Marshal(seed.dir)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, seed.depth)
	}
	f.Fuzz(func(t *testing.T, blob []byte, depth uint8) {
		d := digest.OfBytes(blob)
		s := &fuzzStore{blobs: map[digest.Digest][]byte{d: blob}}
		lim := treeLimits{entries: 1 << 20, bytes: 1 << 40, dirs: 1 << 10, dirBytes: 1 << 30}
		_, err := fetchTree(context.Background(), s, d, lim)
		dir := &repb.Directory{}
		if uerr := proto.Unmarshal(blob, dir); uerr != nil {
			if code := rpcstatus.Code(err); code != codes.InvalidArgument {
				t.Fatalf("fetchTree of a blob that is no Directory: code %v (%v), want InvalidArgument", code, err)
			}
			return
		}
		info, verr := validateDirectory(d, dir, int(depth))
		if verr != nil {
			if code := rpcstatus.Code(verr); code != codes.InvalidArgument {
				t.Fatalf("validateDirectory: code %v (%v), want InvalidArgument", code, verr)
			}
			return
		}
		checkValidDirectory(t, dir, int(depth))
		for i, f := range dir.Files {
			if info.fileDigs[i].Hash != f.Digest.Hash || info.fileDigs[i].Size != f.Digest.SizeBytes {
				t.Fatalf("file %q: digest %v recorded as %v", f.Name, f.Digest, info.fileDigs[i])
			}
		}
		for _, name := range allNames(dir) {
			if k, _ := info.lookup(name); k == kindNone {
				t.Fatalf("lookup(%q) finds nothing in the Directory that names it", name)
			}
		}
	})
}

func allNames(dir *repb.Directory) []string {
	var names []string
	for _, f := range dir.Files {
		names = append(names, f.Name)
	}
	for _, d := range dir.Directories {
		names = append(names, d.Name)
	}
	for _, l := range dir.Symlinks {
		names = append(names, l.Name)
	}
	return names
}

// fuzzTree turns a Tree message into Directory blobs: children[i] is stored
// as a blob, and a DirectoryNode whose hash is the decimal index of a later
// child (or, in the root, of any child) is rewritten to that child's real
// digest, so that the fuzzer can build shared, deep and missing subtrees
// without finding SHA-256 preimages. It returns the root's digest.
func fuzzTree(tree *repb.Tree) (digest.Digest, map[digest.Digest][]byte) {
	blobs := map[digest.Digest][]byte{}
	digs := make([]*repb.Digest, len(tree.Children))
	store := func(dir *repb.Directory, first int) digest.Digest {
		for _, n := range dir.GetDirectories() {
			if i, err := strconv.Atoi(n.GetDigest().GetHash()); err == nil && i >= first && i < len(digs) {
				n.Digest = digs[i]
			}
		}
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(dir)
		d := digest.OfBytes(b)
		blobs[d] = b
		return d
	}
	for i := len(tree.Children) - 1; i >= 0; i-- {
		digs[i] = store(tree.Children[i], i+1).Proto()
	}
	root := tree.GetRoot()
	if root == nil {
		root = &repb.Directory{}
	}
	return store(root, 0), blobs
}

// FuzzFetchTree fetches whole input trees made of fuzzed Directories
// (see fuzzTree). Refusals carry the codes REAPI gives them: a missing
// blob is FAILED_PRECONDITION listing only absent blobs, a tree over a
// limit RESOURCE_EXHAUSTED, anything malformed INVALID_ARGUMENT. An
// accepted tree is within maxDepth and the limits, every occurrence of
// every Directory in it is valid at its depth, and its counts are those of
// the tree as materialized.
func FuzzFetchTree(f *testing.F) {
	file := &repb.Digest{Hash: digest.Empty.Hash, SizeBytes: 0}
	odd := &repb.Digest{Hash: digest.Empty.Hash[:63] + "1", SizeBytes: 3}
	for _, tree := range []*repb.Tree{
		{Root: &repb.Directory{}},
		{
			Root: &repb.Directory{Directories: []*repb.DirectoryNode{
				{Name: "a", Digest: &repb.Digest{Hash: "0"}}, {Name: "b", Digest: &repb.Digest{Hash: "0"}},
			}},
			Children: []*repb.Directory{
				{Directories: []*repb.DirectoryNode{{Name: "c", Digest: &repb.Digest{Hash: "1"}}}, Symlinks: []*repb.SymlinkNode{{Name: "s", Target: "../a/c"}}},
				{Files: []*repb.FileNode{{Name: "f", Digest: &repb.Digest{Hash: digest.Empty.Hash[:63] + "2", SizeBytes: 10}}}, Symlinks: []*repb.SymlinkNode{{Name: "t", Target: "../../b"}}},
			},
		},
		{
			Root:     &repb.Directory{Files: []*repb.FileNode{{Name: "x", Digest: odd}}, Directories: []*repb.DirectoryNode{{Name: "m", Digest: &repb.Digest{Hash: digest.Empty.Hash[:63] + "3", SizeBytes: 7}}}},
			Children: []*repb.Directory{{Files: []*repb.FileNode{{Name: "f", Digest: file}}}},
		},
	} {
		b, err := proto.Marshal(tree)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tree := &repb.Tree{}
		if proto.Unmarshal(data, tree) != nil || len(tree.Children) > 64 {
			return
		}
		root, blobs := fuzzTree(tree)
		s := &fuzzStore{blobs: blobs}
		lim := treeLimits{entries: 4096, bytes: 1 << 20, dirs: 48, dirBytes: 1 << 16}
		got, err := fetchTree(context.Background(), s, root, lim)
		if err != nil {
			switch code := rpcstatus.Code(err); code {
			case codes.InvalidArgument, codes.ResourceExhausted:
			case codes.FailedPrecondition:
				checkMissing(t, s, err)
			default:
				t.Fatalf("fetchTree: code %v (%v)", code, err)
			}
			return
		}
		if len(got.dirs) > lim.dirs {
			t.Fatalf("accepted %d distinct Directories, over the limit of %d", len(got.dirs), lim.dirs)
		}
		// Walk every occurrence: the limits bound the walk.
		var entries, files, bytes int64
		var walk func(d digest.Digest, depth int)
		walk = func(d digest.Digest, depth int) {
			if depth > maxDepth {
				t.Fatalf("accepted a tree deeper than %d levels", maxDepth)
			}
			info := got.dirs[d]
			if info == nil {
				t.Fatalf("accepted a tree without its Directory %s", d)
			}
			checkValidDirectory(t, info.dir, depth)
			entries += ownEntries(info.dir)
			files += int64(len(info.dir.Files) + len(info.dir.Symlinks))
			for _, f := range info.dir.Files {
				bytes += f.Digest.SizeBytes
			}
			if entries > lim.entries || bytes > lim.bytes {
				t.Fatalf("accepted a tree over the limits (%d entries, %d bytes)", entries, bytes)
			}
			for _, sub := range info.dir.Directories {
				walk(digest.Digest{Hash: sub.Digest.Hash, Size: sub.Digest.SizeBytes}, depth+1)
			}
		}
		walk(root, 0)
		if got.entries != entries || got.files != files || got.bytes != bytes {
			t.Fatalf("counts %d entries, %d files, %d bytes; the tree has %d, %d, %d", got.entries, got.files, got.bytes, entries, files, bytes)
		}
	})
}

// checkMissing fails unless err lists, as REAPI's PreconditionFailure,
// only blobs the store lacks.
func checkMissing(t *testing.T, s *fuzzStore, err error) {
	t.Helper()
	st, _ := status.FromError(err)
	var n int
	for _, det := range st.Details() {
		pf, ok := det.(*errdetails.PreconditionFailure)
		if !ok {
			continue
		}
		for _, v := range pf.Violations {
			n++
			d, perr := digest.Parse(strings.TrimPrefix(v.Subject, "blobs/"))
			if v.Type != "MISSING" || perr != nil {
				t.Fatalf("violation %v: want MISSING blobs/{hash}/{size}", v)
			}
			if _, ok := s.blobs[d]; ok {
				t.Fatalf("reported %s missing, but the store holds it", d)
			}
		}
	}
	if n == 0 {
		t.Fatalf("FAILED_PRECONDITION without missing blobs: %v", err)
	}
}
