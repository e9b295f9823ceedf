package execroot

import (
	"context"
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
	c := &collector{r: r, ctx: ctx, budgets: r.b.budgets, stored: make(map[string]digest.Digest)}
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
			d, err := c.file(n, o.rel)
			if err != nil {
				return err
			}
			res.OutputFiles = append(res.OutputFiles, &repb.OutputFile{Path: o.rel, Digest: d.Proto(), IsExecutable: n.exec})
		case nodeDir:
			if o.kind == outFile {
				return rpcstatus.Newf(codes.FailedPrecondition, "output file %q is a directory", o.rel)
			}
			td, err := c.tree(n.dir, o.rel)
			if err != nil {
				return err
			}
			res.OutputDirectories = append(res.OutputDirectories, &repb.OutputDirectory{Path: o.rel, TreeDigest: td.Proto(), IsTopologicallySorted: true})
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
	return nil
}

// collector holds the budgets of one CollectOutputs call.
type collector struct {
	r       *Root
	ctx     context.Context
	budgets Budgets
	total   int64
	entries int
	stored  map[string]digest.Digest // upper path -> digest, once moved
}

func (c *collector) entry(rel string) error {
	c.entries++
	if c.entries > c.budgets.MaxEntries {
		return rpcstatus.Newf(codes.ResourceExhausted, "outputs have more than %d entries (at %q)", c.budgets.MaxEntries, rel)
	}
	return nil
}

// file returns the digest of an output file, moving a new one into the CAS.
func (c *collector) file(n node, rel string) (digest.Digest, error) {
	if err := c.entry(rel); err != nil {
		return digest.Digest{}, err
	}
	if n.size > c.budgets.MaxOutputFileBytes {
		return digest.Digest{}, rpcstatus.Newf(codes.ResourceExhausted, "output file %q has %d bytes, over the %d byte limit", rel, n.size, c.budgets.MaxOutputFileBytes)
	}
	c.total += n.size
	if c.total > c.budgets.MaxTotalOutputBytes {
		return digest.Digest{}, rpcstatus.Newf(codes.ResourceExhausted, "outputs have more than %d bytes (at %q)", c.budgets.MaxTotalOutputBytes, rel)
	}
	if n.upper == "" {
		return n.digest, nil // an unchanged input
	}
	if d, ok := c.stored[n.upper]; ok {
		return d, nil
	}
	d, err := c.r.b.store.PutFile(c.ctx, n.upper, true)
	if err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "store output file %q", rel)
	}
	c.stored[n.upper] = d
	return d, nil
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

// builtDir is one Directory of an output tree.
type builtDir struct {
	dir   *repb.Directory
	bytes []byte
}

// tree stores the Tree of an output directory and returns its digest. The
// Tree is topologically sorted (root first, each child after its parent,
// each distinct Directory once, in breadth-first order) and encoded as the
// record stream OutputDirectory.is_topologically_sorted describes, which is
// also the standard encoding of the Tree message.
func (c *collector) tree(d mdir, rel string) (digest.Digest, error) {
	built := make(map[digest.Digest]builtDir)
	root, rootBytes, err := c.dir(built, d, rel, 0)
	if err != nil {
		return digest.Digest{}, err
	}
	buf := protowire.AppendTag(nil, 1, protowire.BytesType)
	buf = protowire.AppendBytes(buf, rootBytes)
	seen := make(map[digest.Digest]bool)
	queue := []*repb.Directory{root}
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
		return digest.Digest{}, rpcstatus.Newf(codes.ResourceExhausted, "output directory %q: Tree has %d bytes, over the %d byte limit", rel, len(buf), maxDirectoryBytes)
	}
	td := digest.OfBytes(buf)
	if err := c.r.b.store.Put(c.ctx, td, buf); err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "store Tree of output directory %q", rel)
	}
	return td, nil
}

// dir builds the Directory for d (and, recursively, its children).
func (c *collector) dir(built map[digest.Digest]builtDir, d mdir, rel string, depth int) (*repb.Directory, []byte, error) {
	if depth > maxDepth {
		return nil, nil, rpcstatus.Newf(codes.ResourceExhausted, "output directory %q nests deeper than %d levels", rel, maxDepth)
	}
	if err := c.ctx.Err(); err != nil {
		return nil, nil, rpcstatus.FromContext(c.ctx)
	}
	nodes, err := c.r.list(d)
	if err != nil {
		return nil, nil, err
	}
	dir := &repb.Directory{}
	for _, n := range nodes {
		crel := n.name
		if rel != "" {
			crel = rel + "/" + n.name
		}
		switch n.kind {
		case nodeFile:
			fd, err := c.file(n, crel)
			if err != nil {
				return nil, nil, err
			}
			dir.Files = append(dir.Files, &repb.FileNode{Name: n.name, Digest: fd.Proto(), IsExecutable: n.exec})
		case nodeDir:
			if err := c.entry(crel); err != nil {
				return nil, nil, err
			}
			sub, subBytes, err := c.dir(built, n.dir, crel, depth+1)
			if err != nil {
				return nil, nil, err
			}
			sd := digest.OfBytes(subBytes)
			built[sd] = builtDir{dir: sub, bytes: subBytes}
			dir.Directories = append(dir.Directories, &repb.DirectoryNode{Name: n.name, Digest: sd.Proto()})
		case nodeSymlink:
			if err := c.symlink(n, crel); err != nil {
				return nil, nil, err
			}
			dir.Symlinks = append(dir.Symlinks, &repb.SymlinkNode{Name: n.name, Target: n.target})
		case nodeOther:
			c.r.b.log.WarnContext(c.ctx, "execroot skipped a special file in an output directory", slog.String("path", crel))
		}
	}
	b, _, err := digest.OfMessage(dir)
	if err != nil {
		return nil, nil, rpcstatus.Newf(codes.Internal, "marshal output Directory: %v", err)
	}
	return dir, b, nil
}
