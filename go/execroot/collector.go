package execroot

import (
	"golang.org/x/sync/errgroup"

	"context"
	"errors"
	"log/slog"
	"strings"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// CollectOutputs stores the outputs cmd asks for into the CAS and records
// them in res. It runs after the command, once the sandbox is gone, and reads
// the merged view of the overlay (see view.go): new files are moved from the
// upper layer into the CAS (no copy); unchanged input files reuse their input
// digests.
//
// output_paths (REAPI 2.1) supersedes output_files and output_directories
// (2.0, which Bazel 4.2.3 sends). Outputs that do not exist are omitted.
// Symlinks stay symlinks: in output_file_symlinks or
// output_directory_symlinks for 2.0 fields; in output_symlinks and, for 2.0
// clients, also in the deprecated field matching the target's type for
// output_paths. Inside output directories they are SymlinkNodes.
//
// Errors: FAILED_PRECONDITION for an output_files entry that is a directory
// (or a symlink to one), an output_directories entry that is a file (or a
// symlink to one), and an output symlink with an absolute target (we
// advertise symlink_absolute_path_strategy DISALLOWED), as REAPI says;
// RESOURCE_EXHAUSTED when the Budgets are exceeded.
func (r *Root) CollectOutputs(ctx context.Context, cmd *repb.Command, res *repb.ActionResult) error {
	_, outs, err := commandOutputs(cmd)
	if err != nil {
		return err
	}
	// First walk every output, checking types and budgets, so that an
	// error leaves the upper dir untouched; then store the new files in
	// parallel (the CAS fsyncs each, and concurrent fsyncs share journal
	// commits); then encode and store the Trees, also in parallel.
	c := &collector{r: r, ctx: ctx, budgets: r.b.budgets, pending: make(map[string]*pendingFile)}
	var files []fileFixup
	var trees []treeFixup
	for _, o := range outs {
		if err := ctx.Err(); err != nil {
			return rpcstatus.FromContext(ctx)
		}
		n, err := r.stat(o.full, false)
		if err != nil {
			return rpcstatus.Wrapf(err, "output %q", o.rel)
		}
		switch n.kind {
		case nodeMissing:
			continue
		case nodeOther:
			r.b.log.WarnContext(ctx, "execroot output is not a file, directory or symlink", slog.String("path", o.rel))
			continue
		case nodeFile:
			if o.kind == outDir {
				return rpcstatus.Newf(codes.FailedPrecondition, "output directory %q is a file", o.rel)
			}
			pf, err := c.file(n, o.rel)
			if err != nil {
				return err
			}
			of := &repb.OutputFile{Path: o.rel, IsExecutable: n.exec}
			res.OutputFiles = append(res.OutputFiles, of)
			files = append(files, fileFixup{of, pf})
		case nodeDir:
			if o.kind == outFile {
				return rpcstatus.Newf(codes.FailedPrecondition, "output file %q is a directory", o.rel)
			}
			td, err := c.dir(n.dir, o.rel, 0)
			if err != nil {
				return err
			}
			od := &repb.OutputDirectory{Path: o.rel, IsTopologicallySorted: true}
			res.OutputDirectories = append(res.OutputDirectories, od)
			trees = append(trees, treeFixup{od, td})
		case nodeSymlink:
			if err := c.symlink(n, o.rel); err != nil {
				return err
			}
			t, err := r.stat(o.full, true)
			if err != nil {
				return rpcstatus.Wrapf(err, "output %q", o.rel)
			}
			link := &repb.OutputSymlink{Path: o.rel, Target: n.target}
			switch {
			case o.kind == outFile && t.kind == nodeDir:
				return rpcstatus.Newf(codes.FailedPrecondition, "output file %q is a symlink to a directory", o.rel)
			case o.kind == outDir && t.kind == nodeFile:
				return rpcstatus.Newf(codes.FailedPrecondition, "output directory %q is a symlink to a file", o.rel)
			case o.kind == outPath:
				res.OutputSymlinks = append(res.OutputSymlinks, link)
				link = &repb.OutputSymlink{Path: o.rel, Target: n.target}
			}
			// Dangling symlinks count as file symlinks for output_paths.
			if o.kind == outDir || o.kind == outPath && t.kind == nodeDir {
				res.OutputDirectorySymlinks = append(res.OutputDirectorySymlinks, link)
			} else {
				res.OutputFileSymlinks = append(res.OutputFileSymlinks, link)
			}
		}
	}

	if err := parallel(len(c.queue), func(i int) error {
		pf := c.queue[i]
		d, err := r.b.store.MoveFile(ctx, pf.path, r.flushFailures)
		if err != nil {
			return rpcstatus.Wrapf(err, "store output file %q", pf.rel)
		}
		pf.d = d
		return nil
	}); err != nil {
		return err
	}
	for _, f := range files {
		f.out.Digest = f.file.d.Proto()
	}
	// REAPI lets a server store a superset of the requested format, so
	// DIRECTORY_ONLY gets the Tree as well; TREE_ONLY (the default, and
	// what an unknown value means) gets the Tree alone.
	format := cmd.GetOutputDirectoryFormat()
	withDirs := format == repb.Command_DIRECTORY_ONLY || format == repb.Command_TREE_AND_DIRECTORY
	return parallel(len(trees), func(i int) error {
		td, rd, err := c.storeTree(trees[i].dir, trees[i].out.Path, withDirs)
		if err != nil {
			return err
		}
		trees[i].out.TreeDigest = td.Proto()
		if withDirs {
			trees[i].out.RootDirectoryDigest = rd.Proto()
		}
		return nil
	})
}

type fileFixup struct {
	out  *repb.OutputFile
	file *pendingFile
}

type treeFixup struct {
	out *repb.OutputDirectory
	dir *walkedDir
}

// pendingFile is an output file whose digest is known once it is stored.
type pendingFile struct {
	path string // in the upper dir; "" for an unchanged input
	rel  string
	d    digest.Digest
}

// walkedDir is a walked output directory, before its files are stored.
type walkedDir struct {
	files []outFileNode
	dirs  []outDirNode
	links []*repb.SymlinkNode
}

type outFileNode struct {
	name string
	file *pendingFile
	exec bool
}

type outDirNode struct {
	name string
	dir  *walkedDir
}

// maxParallelStores bounds concurrent MoveFile and Tree stores.
const maxParallelStores = 8

// parallel runs f(0..n-1) on up to maxParallelStores goroutines and returns
// the first error; after an error no further f is started.
func parallel(n int, f func(i int) error) error {
	if n == 1 {
		return f(0)
	}
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(maxParallelStores)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		g.Go(func() error { return f(i) })
	}
	return g.Wait()
}

// collector holds the budgets and pending files of one CollectOutputs call.
type collector struct {
	r       *Root
	ctx     context.Context
	budgets Budgets
	total   int64
	entries int
	pending map[string]*pendingFile // by upper path: a file is stored once
	queue   []*pendingFile          // files to store, in walk order
}

func (c *collector) entry(rel string) error {
	c.entries++
	if c.entries > c.budgets.MaxEntries {
		return rpcstatus.Newf(codes.ResourceExhausted, "outputs have more than %d entries (at %q)", c.budgets.MaxEntries, rel)
	}
	return nil
}

// file accounts for an output file and returns its pending digest.
func (c *collector) file(n node, rel string) (*pendingFile, error) {
	if err := c.entry(rel); err != nil {
		return nil, err
	}
	if n.size > c.budgets.MaxOutputFileBytes {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "output file %q has %d bytes, over the %d byte limit", rel, n.size, c.budgets.MaxOutputFileBytes)
	}
	c.total += n.size
	if c.total > c.budgets.MaxTotalOutputBytes {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "outputs have more than %d bytes (at %q)", c.budgets.MaxTotalOutputBytes, rel)
	}
	if n.upper == "" {
		return &pendingFile{rel: rel, d: n.digest}, nil // an unchanged input
	}
	if pf, ok := c.pending[n.upper]; ok {
		return pf, nil
	}
	pf := &pendingFile{path: n.upper, rel: rel}
	c.pending[n.upper] = pf
	c.queue = append(c.queue, pf)
	return pf, nil
}

func (c *collector) symlink(n node, rel string) error {
	if err := c.entry(rel); err != nil {
		return err
	}
	if strings.HasPrefix(n.target, "/") {
		return rpcstatus.Newf(codes.FailedPrecondition, "output symlink %q has the absolute target %q (absolute symlinks are disallowed)", rel, n.target)
	}
	return nil
}

// dir walks the merged directory d.
func (c *collector) dir(d mdir, rel string, depth int) (*walkedDir, error) {
	if depth > maxDepth {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "output directory %q nests deeper than %d levels", rel, maxDepth)
	}
	if err := c.ctx.Err(); err != nil {
		return nil, rpcstatus.FromContext(c.ctx)
	}
	nodes, err := c.r.list(d, c.budgets.MaxEntries-c.entries)
	if errors.Is(err, errTooManyEntries) {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "outputs have more than %d entries (at %q)", c.budgets.MaxEntries, rel)
	}
	if err != nil {
		return nil, err
	}
	od := &walkedDir{}
	for _, n := range nodes {
		crel := n.name
		if rel != "" {
			crel = rel + "/" + n.name
		}
		switch n.kind {
		case nodeFile:
			pf, err := c.file(n, crel)
			if err != nil {
				return nil, err
			}
			od.files = append(od.files, outFileNode{name: n.name, file: pf, exec: n.exec})
		case nodeDir:
			if err := c.entry(crel); err != nil {
				return nil, err
			}
			sub, err := c.dir(n.dir, crel, depth+1)
			if err != nil {
				return nil, err
			}
			od.dirs = append(od.dirs, outDirNode{name: n.name, dir: sub})
		case nodeSymlink:
			if err := c.symlink(n, crel); err != nil {
				return nil, err
			}
			od.links = append(od.links, &repb.SymlinkNode{Name: n.name, Target: n.target})
		case nodeOther:
			c.r.b.log.WarnContext(c.ctx, "execroot skipped a special file in an output directory", slog.String("path", crel))
		}
	}
	return od, nil
}

// builtDir is one encoded Directory of an output tree.
type builtDir struct {
	dir   *repb.Directory
	bytes []byte
}

// storeTree encodes and stores the Tree of a walked output directory and
// returns its digest and that of the root Directory. The Tree is
// topologically sorted (root first, each child after its parent, each
// distinct Directory once, in breadth-first order) and encoded as the
// record stream OutputDirectory.is_topologically_sorted describes, which is
// also the standard encoding of the Tree message. withDirs also stores each
// Directory on its own (OutputDirectory.root_directory_digest).
func (c *collector) storeTree(od *walkedDir, rel string, withDirs bool) (tree, root digest.Digest, err error) {
	built := make(map[digest.Digest]builtDir)
	rootDir, rootBytes, rd, err := encodeDir(od, built)
	if err != nil {
		return digest.Digest{}, digest.Digest{}, err
	}
	buf := protowire.AppendTag(nil, 1, protowire.BytesType)
	buf = protowire.AppendBytes(buf, rootBytes)
	seen := make(map[digest.Digest]bool)
	queue := []*repb.Directory{rootDir}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		for _, sub := range dir.Directories {
			sd := digest.Digest{Hash: sub.Digest.Hash, Size: sub.Digest.SizeBytes}
			if seen[sd] {
				continue
			}
			seen[sd] = true
			b := built[sd]
			buf = protowire.AppendTag(buf, 2, protowire.BytesType)
			buf = protowire.AppendBytes(buf, b.bytes)
			queue = append(queue, b.dir)
		}
	}
	if len(buf) > maxDirectoryBytes {
		return digest.Digest{}, digest.Digest{}, rpcstatus.Newf(codes.ResourceExhausted, "output directory %q: Tree has %d bytes, over the %d byte limit", rel, len(buf), maxDirectoryBytes)
	}
	td := digest.OfBytes(buf)
	blobs := []storedBlob{{td, buf}}
	if withDirs {
		blobs = append(blobs, storedBlob{rd, rootBytes})
		for d, b := range built {
			blobs = append(blobs, storedBlob{d, b.bytes})
		}
	}
	// In parallel, so that the stores share the CAS's flushes.
	if err := parallel(len(blobs), func(i int) error {
		return c.r.b.store.Put(c.ctx, blobs[i].d, blobs[i].data)
	}); err != nil {
		return digest.Digest{}, digest.Digest{}, rpcstatus.Wrapf(err, "store Tree of output directory %q", rel)
	}
	return td, rd, nil
}

// encodeDir builds the Directory protos of od bottom up, recording the
// children in built.
func encodeDir(od *walkedDir, built map[digest.Digest]builtDir) (*repb.Directory, []byte, digest.Digest, error) {
	dir := &repb.Directory{Symlinks: od.links}
	for _, f := range od.files {
		dir.Files = append(dir.Files, &repb.FileNode{Name: f.name, Digest: f.file.d.Proto(), IsExecutable: f.exec})
	}
	for _, s := range od.dirs {
		sub, subBytes, sd, err := encodeDir(s.dir, built)
		if err != nil {
			return nil, nil, digest.Digest{}, err
		}
		built[sd] = builtDir{dir: sub, bytes: subBytes}
		dir.Directories = append(dir.Directories, &repb.DirectoryNode{Name: s.name, Digest: sd.Proto()})
	}
	b, d, err := digest.OfMessage(dir)
	if err != nil {
		return nil, nil, digest.Digest{}, rpcstatus.Newf(codes.Internal, "marshal output Directory: %v", err)
	}
	return dir, b, d, nil
}
