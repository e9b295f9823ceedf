package execroot

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// materializer writes one input (sub)tree to disk: directories are created,
// files are hard links to CAS blobs (copies when the file system refuses the
// link), symlinks are symlinks. Subtrees listed in skip are left as empty
// directories, the mount points of read-only binds from the directory cache.
type materializer struct {
	b    *Builder
	tree *inputTree
	dirs dirOwnership // of the input directories it creates
	// unlock: directories (relative) that are actionOwnedDir, with all
	// below them for a "/" suffix, although dirs is lockedInputDir.
	unlock map[string]bool
	skip   map[string]bool          // relative paths left as mount points
	srcs   map[digest.Digest]string // blob -> link source (plain)
	xsrcs  map[digest.Digest]string // blob -> link source (executable)
	pins   []func()
	bytes  int64
}

// pinAll pins every blob the tree (minus skipped subtrees) links, collecting
// every absent blob, and records each blob's link source. Executable
// variants are made in one call.
func (m *materializer) pinAll(ctx context.Context, d digest.Digest) (missing []digest.Digest, err error) {
	var execs []digest.Digest
	if missing, err = m.pinPlain(ctx, d, "", &execs); err != nil {
		return nil, err
	}
	if len(execs) == 0 {
		return missing, nil
	}
	paths, unpins, err := m.b.store.LinkExecutables(ctx, execs)
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "pin executable inputs")
	}
	for i, fd := range execs {
		m.xsrcs[fd] = paths[i]
		if paths[i] == "" {
			missing = append(missing, fd)
			continue
		}
		m.pins = append(m.pins, unpins[i])
		m.bytes += fd.Size
	}
	return missing, nil
}

// pinPlain pins the non-executable blobs of the tree below d and lists the
// executable ones, each once, in execs.
func (m *materializer) pinPlain(ctx context.Context, d digest.Digest, prefix string, execs *[]digest.Digest) (missing []digest.Digest, err error) {
	info := m.tree.dirs[d]
	for i, f := range info.dir.Files {
		fd := info.fileDigs[i]
		if fd.Size == 0 {
			continue
		}
		if f.IsExecutable {
			if _, ok := m.xsrcs[fd]; !ok {
				m.xsrcs[fd] = ""
				*execs = append(*execs, fd)
			}
			continue
		}
		if _, ok := m.srcs[fd]; ok {
			continue
		}
		unpin, err := m.b.store.Pin(ctx, fd)
		if rpcstatus.Code(err) == codes.NotFound {
			m.srcs[fd] = ""
			missing = append(missing, fd)
			continue
		}
		if err != nil {
			return nil, rpcstatus.Wrapf(err, "pin %s", fd)
		}
		m.srcs[fd] = m.b.store.Path(fd)
		m.pins = append(m.pins, unpin)
		m.bytes += fd.Size
	}
	for i, sub := range info.dir.Directories {
		rel := prefix + sub.Name
		if m.skip[rel] {
			continue
		}
		more, err := m.pinPlain(ctx, info.subDigs[i], rel+"/", execs)
		if err != nil {
			return nil, err
		}
		missing = append(missing, more...)
	}
	return missing, nil
}

func (m *materializer) unpinAll() {
	for _, u := range m.pins {
		u()
	}
	m.pins = nil
}

// linkWorkers is how many goroutines create files and symlinks. Links in
// different directories can proceed in parallel in the kernel (links in one
// directory serialize on its lock), so this pays on machines with cores to
// spare and costs little on small ones.
const linkWorkers = 4

// write fills the existing directory dst with the contents of d. The
// directories are made first, in tree order; their files and symlinks are
// then created by linkWorkers goroutines, one directory at a time each.
func (m *materializer) write(ctx context.Context, dst string, d digest.Digest, prefix string) error {
	var jobs []dirJob
	own := m.dirs
	if m.unlock[strings.TrimSuffix(prefix, "/")] {
		own = actionOwnedDir
	}
	if err := m.mkdirs(ctx, dst, d, prefix, own, m.dirs, &jobs); err != nil {
		return err
	}
	if len(jobs) == 1 {
		return m.fill(jobs[0])
	}
	next := make(chan dirJob)
	errs := make(chan error, linkWorkers)
	for range linkWorkers {
		go func() {
			var first error
			for j := range next {
				if first == nil {
					first = m.fill(j)
				}
			}
			errs <- first
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	var first error
	for range linkWorkers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// dirJob is one directory whose files and symlinks are to be created.
type dirJob struct {
	dst  string
	info *inputDir
	// owner of the directory: the files of an actionOwnedDir are the
	// action's too (see file).
	owner dirOwnership
}

// mkdirs lists dst, which has ownership own, to fill, and creates the
// subdirectories of d under it, recursively, with ownership inherit unless
// m.unlock names them.
func (m *materializer) mkdirs(ctx context.Context, dst string, d digest.Digest, prefix string, own, inherit dirOwnership, jobs *[]dirJob) error {
	if err := ctx.Err(); err != nil {
		return rpcstatus.FromContext(ctx)
	}
	info := m.tree.dirs[d]
	if len(info.dir.Files)+len(info.dir.Symlinks) > 0 {
		*jobs = append(*jobs, dirJob{dst: dst, info: info, owner: own})
	}
	for i, sub := range info.dir.Directories {
		p := filepath.Join(dst, sub.Name)
		rel := prefix + sub.Name
		subInherit := inherit
		if m.unlock[rel+"/"] {
			subInherit = actionOwnedDir
		}
		subOwn := subInherit
		if m.unlock[rel] {
			subOwn = actionOwnedDir
		}
		if err := m.mkdir(p, subOwn); err != nil {
			return err
		}
		if m.skip[rel] {
			continue
		}
		if err := m.mkdirs(ctx, p, info.subDigs[i], rel+"/", subOwn, subInherit, jobs); err != nil {
			return err
		}
	}
	return nil
}

// fill creates one directory's files and symlinks.
func (m *materializer) fill(j dirJob) error {
	for i, f := range j.info.dir.Files {
		if err := m.file(filepath.Join(j.dst, f.Name), j.info.fileDigs[i], f.IsExecutable, j.owner == actionOwnedDir); err != nil {
			return err
		}
	}
	for _, l := range j.info.dir.Symlinks {
		if err := os.Symlink(l.Target, filepath.Join(j.dst, l.Name)); err != nil {
			return rpcstatus.Newf(codes.Internal, "create input symlink: %v", err)
		}
	}
	return nil
}

func (m *materializer) mkdir(p string, o dirOwnership) error {
	if err := os.Mkdir(p, 0o755); err != nil {
		return rpcstatus.Newf(codes.Internal, "create input directory: %v", err)
	}
	return m.b.setDirOwnership(p, o)
}

// file makes one input file: a hard link of the CAS blob, or a copy when
// linking fails with EMLINK or EXDEV. A file the action is to own
// (actionOwned, for a daemon running as root) is always a copy given to the
// action user: the blob's inode is shared and must stay the daemon's.
func (m *materializer) file(dst string, d digest.Digest, exec, actionOwned bool) error {
	mode := os.FileMode(0o444)
	if exec {
		mode = 0o555
	}
	own := actionOwned && m.b.chown
	if d.Size == 0 {
		// The empty blob needs no link: creating it is as cheap.
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
		if err != nil {
			return rpcstatus.Newf(codes.Internal, "create empty input file: %v", err)
		}
		if err := f.Close(); err != nil {
			return rpcstatus.Newf(codes.Internal, "create empty input file: %v", err)
		}
		return m.giveToAction(dst, own)
	}
	src := m.srcs[d]
	if exec {
		src = m.xsrcs[d]
	}
	if !own {
		err := os.Link(src, dst)
		if err == nil {
			m.b.linked.Add(1)
			return nil
		}
		if !errors.Is(err, syscall.EMLINK) && !errors.Is(err, syscall.EXDEV) {
			return rpcstatus.Newf(codes.Internal, "link input file %s: %v", d, err)
		}
		// Too many links to one inode, or the CAS is on another file system.
	}
	m.b.copied.Add(1)
	if err := copyFile(src, dst, mode); err != nil {
		return err
	}
	return m.giveToAction(dst, own)
}

// giveToAction makes the file the action user's when own is set.
func (m *materializer) giveToAction(p string, own bool) error {
	if !own {
		return nil
	}
	if err := os.Lchown(p, m.b.uid, m.b.gid); err != nil {
		return rpcstatus.Newf(codes.Internal, "give input file to the action user: %v", err)
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return rpcstatus.Newf(codes.Internal, "copy input file: %v", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return rpcstatus.Newf(codes.Internal, "copy input file: %v", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return rpcstatus.Newf(codes.Internal, "copy input file: %v", err)
	}
	if err := out.Close(); err != nil {
		return rpcstatus.Newf(codes.Internal, "copy input file: %v", err)
	}
	return nil
}
