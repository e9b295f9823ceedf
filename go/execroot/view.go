package execroot

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// The merged view: what the action saw at /execroot, reconstructed without a
// mount from the overlay's upper directory (real files) over the input tree
// (Directory protos, which describe the lower tree and the bound subtrees
// exactly, since neither can change). Overlay semantics honoured: a
// character device 0/0 in the upper dir is a whiteout hiding the name; an
// upper directory with the opaque xattr hides the lower directory's
// entries; an upper non-directory replaces the lower entry.

// mdir is one directory of the merged view.
type mdir struct {
	rel    string    // relative to the input root
	upper  string    // its upper directory, or "" if it has none
	lower  *inputDir // its lower Directory, or nil (none, or hidden as opaque)
	opaque bool      // the upper dir hides the lower tree here
}

func (d mdir) join(name string) string {
	if d.rel == "" {
		return name
	}
	return d.rel + "/" + name
}

// createdDir reports whether the lower tree has the directory name in d
// because Prepare made it for an output.
func (r *Root) createdDir(d mdir, name string) bool {
	if d.opaque {
		return false
	}
	for _, n := range r.created[d.rel] {
		if n == name {
			return true
		}
	}
	return false
}

type nodeKind int

const (
	nodeMissing nodeKind = iota
	nodeFile
	nodeDir
	nodeSymlink
	nodeOther // device, fifo, socket: never an output
)

// node is one name in the merged view.
type node struct {
	kind   nodeKind
	name   string
	upper  string        // path of an upper file or symlink, "" for lower
	size   int64         // files
	exec   bool          // files
	digest digest.Digest // lower files
	target string        // symlinks
	dir    mdir          // directories
}

func (r *Root) rootDir() mdir { return mdir{upper: r.upper, lower: r.tree.dirs[r.tree.root]} }

// lowerOnly is the lookup of name in the lower tree of d.
func (r *Root) lowerOnly(d mdir, name string) node {
	if d.lower != nil {
		if n := lowerNode(d.lower, name); n.kind != nodeMissing {
			n.dir.rel = d.join(name)
			return n
		}
	}
	if r.createdDir(d, name) {
		return node{kind: nodeDir, name: name, dir: mdir{rel: d.join(name)}}
	}
	return node{kind: nodeMissing, name: name}
}

// child looks name up in parent.
func (r *Root) child(parent mdir, name string) (node, error) {
	if parent.upper != "" {
		p := filepath.Join(parent.upper, name)
		fi, err := os.Lstat(p)
		if err == nil {
			return upperNode(parent, name, p, fi)
		}
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return node{}, rpcstatus.Newf(codes.Internal, "read upper layer: %v", err)
		}
	}
	return r.lowerOnly(parent, name), nil
}

func lowerNode(d *inputDir, name string) node {
	k, i := d.lookup(name)
	switch k {
	case kindFile:
		f := d.dir.Files[i]
		return node{kind: nodeFile, name: name, size: d.fileDigs[i].Size, exec: f.IsExecutable, digest: d.fileDigs[i]}
	case kindDir:
		return node{kind: nodeDir, name: name, dir: mdir{lower: d.subs[i]}}
	case kindSymlink:
		return node{kind: nodeSymlink, name: name, target: d.dir.Symlinks[i].Target}
	}
	return node{kind: nodeMissing, name: name}
}

func upperNode(parent mdir, name, p string, fi os.FileInfo) (node, error) {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return node{kind: nodeFile, name: name, upper: p, size: fi.Size(), exec: m&0o111 != 0}, nil
	case m.IsDir():
		opaque, err := overlayXattr(p, "opaque")
		if err != nil {
			return node{}, err
		}
		if redirect, err := overlayXattr(p, "redirect"); err != nil || redirect != "" {
			return node{}, rpcstatus.Newf(codes.Internal, "upper directory %s has an overlay redirect; mount the overlay with redirect_dir=off", p)
		}
		n := node{kind: nodeDir, name: name, dir: mdir{rel: parent.join(name), upper: p, opaque: opaque == "y" || parent.opaque}}
		if !n.dir.opaque && parent.lower != nil {
			if k, i := parent.lower.lookup(name); k == kindDir {
				n.dir.lower = parent.lower.subs[i]
			}
		}
		return n, nil
	case m&os.ModeSymlink != 0:
		t, err := os.Readlink(p)
		if err != nil {
			return node{}, rpcstatus.Newf(codes.Internal, "read output symlink: %v", err)
		}
		return node{kind: nodeSymlink, name: name, upper: p, target: t}, nil
	case m&os.ModeCharDevice != 0:
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Rdev == 0 {
			return node{kind: nodeMissing, name: name}, nil // whiteout
		}
	}
	return node{kind: nodeOther, name: name, upper: p}, nil
}

// overlayXattr reads an overlay xattr of an upper directory, in the trusted
// namespace (root mounts) or the user namespace (userxattr mounts).
func overlayXattr(p, name string) (string, error) {
	buf := make([]byte, 256)
	for _, ns := range []string{"trusted.overlay.", "user.overlay."} {
		n, err := unix.Lgetxattr(p, ns+name, buf)
		if err == nil {
			return string(buf[:n]), nil
		}
		if !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.ERANGE) {
			return "", rpcstatus.Newf(codes.Internal, "read overlay xattr of %s: %v", p, err)
		}
	}
	return "", nil
}

// errTooManyEntries is list's error when d's upper directory alone has
// more entries than the room it was given.
var errTooManyEntries = errors.New("too many entries")

// listBatch is how many entries list reads from an upper directory at once.
const listBatch = 1024

// list returns the merged entries of d, sorted by name. An upper directory
// with more than room entries fails with errTooManyEntries once that many
// are read, so that a directory of millions of files is not read whole.
// An entry whose path in the upper layer would be longer than PATH_MAX
// (the action can nest deeper than that with relative paths) fails with
// RESOURCE_EXHAUSTED.
func (r *Root) list(d mdir, room int) ([]node, error) {
	var nodes []node
	seen := make(map[string]bool)
	if d.upper != "" {
		ents, err := readDirUpTo(d.upper, room)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if p := filepath.Join(d.upper, e.Name()); len(p) >= maxPathLen {
				return nil, rpcstatus.Newf(codes.ResourceExhausted, "output path %q is too long: its path in the work directory has more than %d bytes (PATH_MAX)", d.join(e.Name()), maxPathLen-1)
			}
			fi, err := e.Info()
			if err != nil {
				return nil, rpcstatus.Newf(codes.Internal, "read upper layer: %v", err)
			}
			n, err := upperNode(d, e.Name(), filepath.Join(d.upper, e.Name()), fi)
			if err != nil {
				return nil, err
			}
			seen[e.Name()] = true
			if n.kind != nodeMissing {
				nodes = append(nodes, n)
			}
		}
	}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			nodes = append(nodes, r.lowerOnly(d, name))
		}
	}
	if !d.opaque {
		for _, name := range r.created[d.rel] {
			add(name)
		}
	}
	if l := d.lower; l != nil {
		for _, f := range l.dir.Files {
			add(f.Name)
		}
		for _, s := range l.dir.Directories {
			add(s.Name)
		}
		for _, s := range l.dir.Symlinks {
			add(s.Name)
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].name < nodes[j].name })
	return nodes, nil
}

// readDirUpTo reads the entries of dir, failing with errTooManyEntries as
// soon as there are more than room.
func readDirUpTo(dir string, room int) ([]os.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, rpcstatus.Newf(codes.Internal, "read upper layer: %v", err)
	}
	defer f.Close()
	var ents []os.DirEntry
	for {
		batch, err := f.ReadDir(listBatch)
		ents = append(ents, batch...)
		if len(ents) > room {
			return nil, errTooManyEntries
		}
		if errors.Is(err, io.EOF) {
			return ents, nil
		}
		if err != nil {
			return nil, rpcstatus.Newf(codes.Internal, "read upper layer: %v", err)
		}
	}
}

// maxSymlinkHops is Linux's limit on symlinks followed in one lookup.
const maxSymlinkHops = 40

// stat resolves comps (relative to the input root) in the merged view,
// following symlinks in the middle of the path, and at its end when follow
// is set. A path that leaves the input root, loops or is absolute resolves
// to nodeMissing: nothing inside the root is there.
func (r *Root) stat(comps []string, follow bool) (node, error) {
	stack := []mdir{r.rootDir()}
	todo := append([]string(nil), comps...)
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				return node{kind: nodeMissing}, nil
			}
			stack = stack[:len(stack)-1]
			continue
		}
		n, err := r.child(stack[len(stack)-1], c)
		if err != nil {
			return node{}, err
		}
		last := len(todo) == 0
		switch n.kind {
		case nodeDir:
			if last {
				return n, nil
			}
			stack = append(stack, n.dir)
		case nodeSymlink:
			if last && !follow {
				return n, nil
			}
			hops++
			if hops > maxSymlinkHops || strings.HasPrefix(n.target, "/") {
				return node{kind: nodeMissing}, nil
			}
			todo = append(strings.Split(n.target, "/"), todo...)
		case nodeMissing:
			return n, nil
		default:
			if last {
				return n, nil
			}
			return node{kind: nodeMissing}, nil
		}
	}
	return node{kind: nodeDir, dir: stack[len(stack)-1]}, nil
}
