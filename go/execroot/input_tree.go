package execroot

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

const (
	// maxDepth bounds the nesting of input directories and the number of
	// components of output paths, which bounds the recursion over both;
	// real source and output trees are far shallower.
	maxDepth = 128
	// maxDirectoryBytes bounds a single Directory proto.
	maxDirectoryBytes = 64 << 20
	maxNameLen        = 255
	maxPathLen        = 4096
)

// inputTree is a fetched and validated input root: every Directory proto of
// the Merkle tree, keyed by digest, with per-directory facts computed once so
// that a cached tree answers every later question without touching the CAS.
type inputTree struct {
	root    digest.Digest
	dirs    map[digest.Digest]*inputDir
	files   int64 // files and symlinks in the whole tree, with multiplicity
	bytes   int64 // file bytes in the whole tree, with multiplicity
	entries int64 // files, symlinks and directories below the root, with multiplicity
}

// inputDir is one validated Directory. The counts are of its subtree as it
// is materialized, so a child Directory used under several names counts
// once per name; they saturate at math.MaxInt64.
type inputDir struct {
	dir      *repb.Directory
	fileDigs []digest.Digest // parallel to dir.Files
	subDigs  []digest.Digest // parallel to dir.Directories
	subs     []*inputDir     // parallel to dir.Directories, linked after fetching
	counted  bool            // files, bytes, entries and height are set
	files    int64           // files and symlinks in this subtree
	bytes    int64           // file bytes in this subtree
	entries  int64           // files, symlinks and directories in this subtree
	height   int             // levels of directories below this one
}

// treeLimits bound an input tree before anything of it is materialized (see
// Budgets). A Merkle tree can name one child Directory many times, so a few
// small protos can describe an exponentially large tree: the expanded
// entries and bytes are what materializing costs, and the unique Directories
// and their bytes are what fetching and keeping the tree in memory cost.
type treeLimits struct {
	entries  int64 // files, symlinks and directories, each occurrence counted
	bytes    int64 // file bytes, each occurrence counted
	dirs     int   // distinct Directory protos
	dirBytes int64 // bytes of the distinct Directory protos together
}

// lookupKind is what a name in an input Directory refers to.
type lookupKind int

const (
	kindNone lookupKind = iota
	kindFile
	kindDir
	kindSymlink
)

// lookup finds name in the directory: the kind and the index into the
// corresponding list. The lists are sorted (validated), so this is a binary
// search.
func (d *inputDir) lookup(name string) (lookupKind, int) {
	fs := d.dir.Files
	if i := sort.Search(len(fs), func(i int) bool { return fs[i].Name >= name }); i < len(fs) && fs[i].Name == name {
		return kindFile, i
	}
	ds := d.dir.Directories
	if i := sort.Search(len(ds), func(i int) bool { return ds[i].Name >= name }); i < len(ds) && ds[i].Name == name {
		return kindDir, i
	}
	ss := d.dir.Symlinks
	if i := sort.Search(len(ss), func(i int) bool { return ss[i].Name >= name }); i < len(ss) && ss[i].Name == name {
		return kindSymlink, i
	}
	return kindNone, 0
}

// kindOf says what the path comps names in the tree (kindDir for none: the
// root).
func (t *inputTree) kindOf(comps []string) lookupKind {
	cur := t.dirs[t.root]
	for i, c := range comps {
		k, idx := cur.lookup(c)
		if k != kindDir || i == len(comps)-1 {
			return k
		}
		cur = cur.subs[idx]
	}
	return kindDir
}

// fetchTree reads every Directory of the tree rooted at root breadth first,
// validates each, checks the tree against lim, and checks in bulk that every
// file blob is present. All missing blobs (Directories and files) are
// reported together in one FAILED_PRECONDITION carrying a
// PreconditionFailure, as REAPI asks. A tree over a limit fails with
// RESOURCE_EXHAUSTED after reading at most lim.dirs Directories of at most
// lim.dirBytes together, and before any FindMissing or materializing.
func fetchTree(ctx context.Context, store BlobStore, root digest.Digest, lim treeLimits) (*inputTree, error) {
	t := &inputTree{root: root, dirs: make(map[digest.Digest]*inputDir)}
	var missing []digest.Digest
	seen := make(map[digest.Digest]bool)
	var dirBytes, entries, bytes int64
	// admit accounts for a Directory about to be read, so that the reads
	// themselves stay within the limits on distinct Directories.
	admit := func(d digest.Digest) error {
		seen[d] = true
		dirBytes = satAdd(dirBytes, d.Size)
		if len(seen) > lim.dirs {
			return rpcstatus.Newf(codes.ResourceExhausted, "input root %s: more than %d distinct Directories (MaxInputDirectories)", root, lim.dirs)
		}
		if dirBytes > lim.dirBytes {
			return rpcstatus.Newf(codes.ResourceExhausted, "input root %s: Directory protos larger than %d bytes together (MaxInputDirectoryBytes)", root, lim.dirBytes)
		}
		return nil
	}
	if err := admit(root); err != nil {
		return nil, err
	}
	level := []digest.Digest{root}
	for depth := 0; len(level) > 0; depth++ {
		if depth > maxDepth {
			return nil, tooDeep(root)
		}
		var next []digest.Digest
		for _, d := range level {
			if err := ctx.Err(); err != nil {
				return nil, rpcstatus.FromContext(ctx)
			}
			dir := &repb.Directory{}
			if d.Size > 0 { // the empty Directory serializes to zero bytes
				if d.Size > maxDirectoryBytes {
					return nil, rpcstatus.Newf(codes.InvalidArgument, "directory %s: larger than the %d byte limit for Directory protos", d, maxDirectoryBytes)
				}
				b, err := store.ReadAll(ctx, d, d.Size)
				if rpcstatus.Code(err) == codes.NotFound {
					missing = append(missing, d)
					continue
				}
				if err != nil {
					return nil, rpcstatus.Wrapf(err, "read directory %s", d)
				}
				if err := proto.Unmarshal(b, dir); err != nil {
					return nil, rpcstatus.Newf(codes.InvalidArgument, "directory %s is not a valid Directory proto: %v", d, err)
				}
			}
			info, err := validateDirectory(d, dir, depth)
			if err != nil {
				return nil, err
			}
			t.dirs[d] = info
			// Every Directory occurs at least once in the tree, so the
			// sums over distinct ones are lower bounds of the expanded
			// counts: a tree that is large without repetition fails here,
			// before the rest of it is read.
			entries = satAdd(entries, ownEntries(dir))
			for _, fd := range info.fileDigs {
				bytes = satAdd(bytes, fd.Size)
			}
			if err := checkExpanded(root, entries, bytes, lim); err != nil {
				return nil, err
			}
			for _, c := range info.subDigs {
				if !seen[c] {
					if err := admit(c); err != nil {
						return nil, err
					}
					next = append(next, c)
				}
			}
		}
		level = next
	}

	if len(missing) == 0 {
		// With every Directory at hand: link the children, then count the
		// tree as it would be materialized (and check its true depth,
		// which breadth-first levels understate when a Directory also
		// occurs higher up) before asking the CAS about any file.
		for _, info := range t.dirs {
			info.subs = make([]*inputDir, len(info.subDigs))
			for i, c := range info.subDigs {
				info.subs[i] = t.dirs[c]
			}
		}
		ri := t.dirs[root]
		if err := t.count(ri, 0); err != nil {
			return nil, err
		}
		t.files, t.bytes, t.entries = ri.files, ri.bytes, ri.entries
		if err := checkExpanded(root, t.entries, t.bytes, lim); err != nil {
			return nil, err
		}
	}

	var blobs []digest.Digest
	blobSeen := make(map[digest.Digest]bool)
	for _, info := range t.dirs {
		for _, fd := range info.fileDigs {
			if fd.Size > 0 && !blobSeen[fd] {
				blobSeen[fd] = true
				blobs = append(blobs, fd)
			}
		}
	}
	if len(blobs) > 0 {
		missing = append(missing, store.FindMissing(ctx, blobs)...)
	}
	if len(missing) > 0 {
		return nil, missingBlobsError(root, missing)
	}
	return t, nil
}

func tooDeep(root digest.Digest) error {
	return rpcstatus.Newf(codes.InvalidArgument, "input root %s: directories nested deeper than %d levels", root, maxDepth)
}

// checkExpanded fails with RESOURCE_EXHAUSTED if the tree (or a lower bound
// of it) is over the limits on what materializing it creates.
func checkExpanded(root digest.Digest, entries, bytes int64, lim treeLimits) error {
	if entries > lim.entries {
		return rpcstatus.Newf(codes.ResourceExhausted, "input root %s: more than %d files, directories and symlinks, counting each occurrence of a repeated Directory (MaxInputEntries)", root, lim.entries)
	}
	if bytes > lim.bytes {
		return rpcstatus.Newf(codes.ResourceExhausted, "input root %s: more than %d bytes of files, counting each occurrence of a repeated Directory (MaxInputBytes)", root, lim.bytes)
	}
	return nil
}

// ownEntries is the number of names in dir itself.
func ownEntries(dir *repb.Directory) int64 {
	return int64(len(dir.Files)) + int64(len(dir.Directories)) + int64(len(dir.Symlinks))
}

// count fills in the expanded counts and the height of info's subtree,
// bottom up, each Directory once; info occurs depth levels below the root.
// It fails as soon as a path is deeper than maxDepth, which also bounds its
// recursion. The sums saturate: a Directory repeated at every level doubles
// the count per level and overflows int64 after 63 of them.
func (t *inputTree) count(info *inputDir, depth int) error {
	if info.counted {
		if depth+info.height > maxDepth {
			return tooDeep(t.root)
		}
		return nil
	}
	if depth > maxDepth {
		return tooDeep(t.root)
	}
	files := int64(len(info.dir.Files) + len(info.dir.Symlinks))
	entries := ownEntries(info.dir)
	var bytes int64
	for _, fd := range info.fileDigs {
		bytes = satAdd(bytes, fd.Size)
	}
	height := 0
	for _, c := range info.subs {
		if err := t.count(c, depth+1); err != nil {
			return err
		}
		files = satAdd(files, c.files)
		bytes = satAdd(bytes, c.bytes)
		entries = satAdd(entries, c.entries)
		height = max(height, c.height+1)
	}
	info.files, info.bytes, info.entries, info.height = files, bytes, entries, height
	info.counted = true
	return nil
}

// satAdd adds two non-negative counts, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// missingBlobsError is the FAILED_PRECONDITION that REAPI specifies for
// missing inputs, listing the blobs sorted by hash.
func missingBlobsError(root digest.Digest, missing []digest.Digest) error {
	sort.Slice(missing, func(i, j int) bool { return missing[i].Hash < missing[j].Hash })
	return rpcstatus.MissingBlobs(missing, "input root %s: %d blobs missing from the CAS, first %s", root, len(missing), missing[0])
}

// validateDirectory checks that d is in REAPI canonical form as far as
// execution depends on it: valid single-component names, each list sorted
// and unique, no name used by two kinds, valid digests, and symlink targets
// that are relative and stay inside the input root when resolved lexically
// from the shallowest place the directory occurs (depth).
func validateDirectory(dg digest.Digest, dir *repb.Directory, depth int) (*inputDir, error) {
	bad := func(format string, args ...any) error {
		return rpcstatus.Newf(codes.InvalidArgument, "directory %s: %s", dg, fmt.Sprintf(format, args...))
	}
	info := &inputDir{dir: dir, fileDigs: make([]digest.Digest, len(dir.Files)), subDigs: make([]digest.Digest, len(dir.Directories))}
	for i, f := range dir.Files {
		if err := validateName(f.Name); err != nil {
			return nil, bad("file %q: %v", f.Name, err)
		}
		if i > 0 && dir.Files[i-1].Name >= f.Name {
			return nil, bad("files not sorted and unique at %q", f.Name)
		}
		d, err := digest.FromProto(f.Digest)
		if err != nil {
			return nil, bad("file %q: %s", f.Name, rpcstatus.Message(err))
		}
		info.fileDigs[i] = d
	}
	for i, s := range dir.Directories {
		if err := validateName(s.Name); err != nil {
			return nil, bad("directory %q: %v", s.Name, err)
		}
		if i > 0 && dir.Directories[i-1].Name >= s.Name {
			return nil, bad("directories not sorted and unique at %q", s.Name)
		}
		if k, _ := info.lookup(s.Name); k == kindFile {
			return nil, bad("name %q used by a file and a directory", s.Name)
		}
		d, err := digest.FromProto(s.Digest)
		if err != nil {
			return nil, bad("directory %q: %s", s.Name, rpcstatus.Message(err))
		}
		info.subDigs[i] = d
	}
	for i, l := range dir.Symlinks {
		if err := validateName(l.Name); err != nil {
			return nil, bad("symlink %q: %v", l.Name, err)
		}
		if i > 0 && dir.Symlinks[i-1].Name >= l.Name {
			return nil, bad("symlinks not sorted and unique at %q", l.Name)
		}
		if k, _ := info.lookup(l.Name); k != kindSymlink {
			return nil, bad("name %q used by a symlink and a file or directory", l.Name)
		}
		if err := validateSymlinkTarget(l.Target, depth); err != nil {
			return nil, bad("symlink %q: %v", l.Name, err)
		}
	}
	return info, nil
}

func validateName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == "." || name == "..":
		return fmt.Errorf("name %q is not allowed", name)
	case strings.IndexByte(name, '/') >= 0:
		return errors.New("name contains '/'")
	case strings.IndexByte(name, 0) >= 0:
		return errors.New("name contains NUL")
	case len(name) > maxNameLen:
		return fmt.Errorf("name longer than %d bytes", maxNameLen)
	}
	return nil
}

// validateSymlinkTarget rejects absolute targets (we advertise
// symlink_absolute_path_strategy DISALLOWED) and relative targets that climb
// above the input root from a directory depth levels below it.
func validateSymlinkTarget(target string, depth int) error {
	switch {
	case target == "":
		return errors.New("empty target")
	case strings.IndexByte(target, 0) >= 0:
		return errors.New("target contains NUL")
	case target[0] == '/':
		return fmt.Errorf("absolute target %q (absolute symlinks are disallowed)", target)
	case len(target) > maxPathLen:
		return fmt.Errorf("target longer than %d bytes", maxPathLen)
	}
	level := 0
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			level--
			if -level > depth {
				return fmt.Errorf("target %q escapes the input root", target)
			}
		default:
			level++
		}
	}
	return nil
}
