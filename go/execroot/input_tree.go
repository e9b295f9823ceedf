package execroot

import (
	"context"
	"sort"
	"strings"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

const (
	// maxDepth bounds the nesting of input directories and the number of
	// components of output paths, as the reference implementation does.
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
	root  digest.Digest
	dirs  map[digest.Digest]*inputDir
	files int64 // files and symlinks in the whole tree, with multiplicity
	bytes int64 // file bytes in the whole tree, with multiplicity
}

// inputDir is one validated Directory.
type inputDir struct {
	dir      *repb.Directory
	fileDigs []digest.Digest // parallel to dir.Files
	subDigs  []digest.Digest // parallel to dir.Directories
	subs     []*inputDir     // parallel to dir.Directories, linked after fetching
	files    int64           // files and symlinks in this subtree
	bytes    int64           // file bytes in this subtree
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

// fetchTree reads every Directory of the tree rooted at root breadth first,
// validates each, and checks in bulk that every file blob is present. All
// missing blobs (Directories and files) are reported together in one
// FAILED_PRECONDITION carrying a PreconditionFailure, as REAPI asks.
func fetchTree(ctx context.Context, store BlobStore, root digest.Digest) (*inputTree, error) {
	t := &inputTree{root: root, dirs: make(map[digest.Digest]*inputDir)}
	var missing []digest.Digest
	seen := map[digest.Digest]bool{root: true}
	level := []digest.Digest{root}
	for depth := 0; len(level) > 0; depth++ {
		if depth > maxDepth {
			return nil, rpcstatus.Newf(codes.InvalidArgument, "input root %s: directories nested deeper than %d levels", root, maxDepth)
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
			for _, c := range info.subDigs {
				if !seen[c] {
					seen[c] = true
					next = append(next, c)
				}
			}
		}
		level = next
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
	for _, info := range t.dirs {
		info.subs = make([]*inputDir, len(info.subDigs))
		for i, c := range info.subDigs {
			info.subs[i] = t.dirs[c]
		}
	}
	t.files, t.bytes = t.count(root)
	return t, nil
}

// count fills in the recursive file counts bottom up. Directory digests
// repeat across the tree, so each is computed once.
func (t *inputTree) count(d digest.Digest) (int64, int64) {
	info := t.dirs[d]
	if info.files >= 0 {
		return info.files, info.bytes
	}
	files := int64(len(info.dir.Files) + len(info.dir.Symlinks))
	var bytes int64
	for _, fd := range info.fileDigs {
		bytes += fd.Size
	}
	for _, c := range info.subDigs {
		f, b := t.count(c)
		files += f
		bytes += b
	}
	info.files, info.bytes = files, bytes
	return files, bytes
}

// missingBlobsError builds the FAILED_PRECONDITION that REAPI specifies for
// missing inputs: one PreconditionFailure violation per blob.
func missingBlobsError(root digest.Digest, missing []digest.Digest) error {
	sort.Slice(missing, func(i, j int) bool { return missing[i].Hash < missing[j].Hash })
	pf := &errdetails.PreconditionFailure{}
	for _, d := range missing {
		pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
			Type:    "MISSING",
			Subject: "blobs/" + d.Hash + "/" + itoa(d.Size),
		})
	}
	st := status.Newf(codes.FailedPrecondition, "input root %s: %d blobs missing from the CAS, first %s", root, len(missing), missing[0])
	if withDetails, err := st.WithDetails(pf); err == nil {
		st = withDetails
	}
	return st.Err()
}

// validateDirectory checks that d is in REAPI canonical form as far as
// execution depends on it: valid single-component names, each list sorted
// and unique, no name used by two kinds, valid digests, and symlink targets
// that are relative and stay inside the input root when resolved lexically
// from the shallowest place the directory occurs (depth).
func validateDirectory(dg digest.Digest, dir *repb.Directory, depth int) (*inputDir, error) {
	bad := func(format string, args ...any) error {
		return rpcstatus.Newf(codes.InvalidArgument, "directory %s: %s", dg, sprintf(format, args...))
	}
	info := &inputDir{dir: dir, files: -1, fileDigs: make([]digest.Digest, len(dir.Files)), subDigs: make([]digest.Digest, len(dir.Directories))}
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
		return errorf("empty name")
	case name == "." || name == "..":
		return errorf("name %q is not allowed", name)
	case strings.IndexByte(name, '/') >= 0:
		return errorf("name contains '/'")
	case strings.IndexByte(name, 0) >= 0:
		return errorf("name contains NUL")
	case len(name) > maxNameLen:
		return errorf("name longer than %d bytes", maxNameLen)
	}
	return nil
}

// validateSymlinkTarget rejects absolute targets (we advertise
// symlink_absolute_path_strategy DISALLOWED) and relative targets that climb
// above the input root from a directory depth levels below it.
func validateSymlinkTarget(target string, depth int) error {
	switch {
	case target == "":
		return errorf("empty target")
	case strings.IndexByte(target, 0) >= 0:
		return errorf("target contains NUL")
	case target[0] == '/':
		return errorf("absolute target %q (absolute symlinks are disallowed)", target)
	case len(target) > maxPathLen:
		return errorf("target longer than %d bytes", maxPathLen)
	}
	level := 0
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			level--
			if -level > depth {
				return errorf("target %q escapes the input root", target)
			}
		default:
			level++
		}
	}
	return nil
}
