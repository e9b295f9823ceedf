// Package actioncache stores REAPI ActionResults on disk, keyed by action
// digest, and only hands out results whose outputs are all still in the CAS.
//
// Each result is one file, root/ac/<hash>-<size>, holding the serialized
// ActionResult. Writes go to root/ac/tmp, are fsynced and renamed over the
// old entry, so a reader sees the old or the new result, never a mix.
// Stage makes a result visible before its file is written, for the
// executor's own results (see Stage).
package actioncache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/internal/privdir"
	"github.com/actiond/actiond/go/rpcstatus"
)

// MaxResultBytes caps a serialized ActionResult, and MaxTreeBytes a Tree
// blob read to check the files of an output directory.
const (
	MaxResultBytes = 64 << 20
	MaxTreeBytes   = 64 << 20
)

// Cache is the action cache. It is safe for concurrent use.
type Cache struct {
	dir    string // root/ac
	tmpDir string // root/ac/tmp
	store  *cas.Store
	logger *slog.Logger

	// mu orders the renames of Put and of staged results against each
	// other and against the removal of a stale entry by Get, so that Get
	// never deletes a result just written and an older result never
	// replaces a newer one. It also guards staged.
	mu sync.Mutex
	// staged holds the results Stage made visible whose files are not
	// written yet, by action digest.
	staged map[digest.Digest]*stagedResult
}

// stagedResult is one staged result; its identity tells whether a later
// Put or Stage superseded it.
type stagedResult struct {
	data []byte
}

// Open opens (creating if needed) the action cache under root/ac and removes
// temp files left by a crash. Results are checked against store.
func Open(ctx context.Context, root string, store *cas.Store, logger *slog.Logger) (*Cache, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		dir:    filepath.Join(root, "ac"),
		tmpDir: filepath.Join(root, "ac", "tmp"),
		store:  store,
		logger: logger,
		staged: map[digest.Digest]*stagedResult{},
	}
	if fixed, err := privdir.Ensure(c.dir); err != nil {
		return nil, rpcstatus.Newf(codes.FailedPrecondition, "action cache: %v", err)
	} else if fixed {
		logger.WarnContext(ctx, "action cache: removed group and world write permission", slog.String("dir", c.dir))
	}
	if err := os.RemoveAll(c.tmpDir); err != nil {
		return nil, rpcstatus.Wrapf(err, "action cache: removing leftover temp files")
	}
	if err := os.MkdirAll(c.tmpDir, 0o700); err != nil {
		return nil, rpcstatus.Wrapf(err, "action cache: creating %s", c.tmpDir)
	}
	return c, nil
}

func (c *Cache) path(d digest.Digest) string {
	return filepath.Join(c.dir, d.FileName())
}

// Get returns the result stored for actionDigest. It is NOT_FOUND if there
// is none, if the stored file is not a valid ActionResult, or if any blob
// the result references (output files, stdout and stderr, output directory
// Trees and every file in them) is no longer in the CAS; a stale or corrupt
// entry is removed. The referenced blobs count as used for CAS eviction.
func (c *Cache) Get(ctx context.Context, actionDigest digest.Digest) (*repb.ActionResult, error) {
	if _, err := digest.New(actionDigest.Hash, actionDigest.Size); err != nil {
		return nil, rpcstatus.Wrapf(err, "action cache")
	}
	c.mu.Lock()
	s := c.staged[actionDigest]
	c.mu.Unlock()
	if s != nil {
		return c.getStaged(ctx, actionDigest, s)
	}
	p := c.path(actionDigest)
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound(actionDigest)
		}
		return nil, rpcstatus.Wrapf(err, "action cache: reading result of %s", actionDigest)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "action cache: reading result of %s", actionDigest)
	}
	if !fi.Mode().IsRegular() || fi.Size() > MaxResultBytes {
		c.removeStale(ctx, actionDigest, fi, fmt.Sprintf("not a regular file of at most %d bytes (mode %v, %d bytes)", MaxResultBytes, fi.Mode(), fi.Size()))
		return nil, notFound(actionDigest)
	}
	buf := make([]byte, fi.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && fi.Size() > 0 {
		return nil, rpcstatus.Wrapf(err, "action cache: reading result of %s", actionDigest)
	}
	r := &repb.ActionResult{}
	if err := proto.Unmarshal(buf, r); err != nil {
		c.removeStale(ctx, actionDigest, fi, "not a valid ActionResult: "+err.Error())
		return nil, notFound(actionDigest)
	}
	missing, err := c.missing(ctx, r)
	if err != nil {
		if rpcstatus.Code(err) == codes.InvalidArgument {
			c.removeStale(ctx, actionDigest, fi, err.Error())
			return nil, notFound(actionDigest)
		}
		return nil, rpcstatus.Wrapf(err, "action cache: checking result of %s", actionDigest)
	}
	if len(missing) > 0 {
		c.removeStale(ctx, actionDigest, fi, fmt.Sprintf("%d referenced blobs are gone from the CAS, first %s", len(missing), missing[0]))
		return nil, notFound(actionDigest)
	}
	return r, nil
}

// getStaged is Get for a result not yet on disk. It was checked when it was
// staged, but its blobs may have been evicted since.
func (c *Cache) getStaged(ctx context.Context, actionDigest digest.Digest, s *stagedResult) (*repb.ActionResult, error) {
	r := &repb.ActionResult{}
	if err := proto.Unmarshal(s.data, r); err != nil {
		return nil, rpcstatus.WrapWithCode(err, codes.Internal, "action cache: decoding staged result of %s", actionDigest)
	}
	missing, err := c.missing(ctx, r)
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "action cache: checking result of %s", actionDigest)
	}
	if len(missing) > 0 {
		return nil, notFound(actionDigest)
	}
	return r, nil
}

func notFound(d digest.Digest) error {
	return rpcstatus.Newf(codes.NotFound, "action result for %s not found", d)
}

// removeStale deletes the entry of d if it is still the file described by
// read, so that a result written meanwhile by Put survives.
func (c *Cache) removeStale(ctx context.Context, d digest.Digest, read fs.FileInfo, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.path(d)
	if fi, err := os.Lstat(p); err != nil || !os.SameFile(fi, read) {
		return
	}
	err := os.RemoveAll(p)
	c.logger.LogAttrs(ctx, slog.LevelInfo, "action cache: removed stale entry",
		slog.String("action_digest", d.String()), slog.String("reason", why), slog.Any("error", err))
}

// Put stores r as the result of actionDigest, replacing any earlier one
// atomically. Every blob r references must be in the CAS: otherwise Put
// fails with FAILED_PRECONDITION and a google.rpc.PreconditionFailure
// detail with one MISSING violation per absent blob (subject
// "blobs/<hash>/<size>"). Malformed digests are INVALID_ARGUMENT, a result
// over MaxResultBytes RESOURCE_EXHAUSTED.
//
// Put returns once the result is on disk, and so is every blob the CAS
// acknowledged before the call (the CAS confirms blobs in the background,
// see cas.Store.Sync): a result a client was told is stored never points
// at blobs a crash can take away. The blobs are made durable before they
// are checked, so one the CAS had to drop because its flush failed is
// reported missing (FAILED_PRECONDITION, which makes a client upload it
// again) rather than failing the call.
func (c *Cache) Put(ctx context.Context, actionDigest digest.Digest, r *repb.ActionResult) error {
	if err := c.store.Sync(ctx); err != nil && ctx.Err() != nil {
		return rpcstatus.Wrapf(err, "action cache: storing result for %s", actionDigest)
	}
	data, err := c.encode(ctx, actionDigest, r)
	if err != nil {
		return err
	}
	if err := c.write(actionDigest, data, nil); err != nil {
		return rpcstatus.Wrapf(err, "action cache: storing result for %s", actionDigest)
	}
	return nil
}

// Stage checks r as Put does and makes it the result of actionDigest for
// Get at once; persist writes it to disk as Put would (it may run on any
// goroutine; a Put or Stage of the same digest in between supersedes it,
// and persist then writes nothing). Until persist succeeds, the result
// lives only in memory: a crash loses it, and the action runs again. A
// failed persist leaves it there, still served, as a result clients may
// already have seen must not give way to an older one.
//
// This is for the executor's own results, which nobody was promised: the
// client gets its ExecuteResponse without waiting for the file (a new
// inode, two fsyncs and a rename, all synchronous disk work), and any later
// lookup through this Cache finds the result.
// Results a client uploads go through Put, which returns once they are
// durable.
func (c *Cache) Stage(ctx context.Context, actionDigest digest.Digest, r *repb.ActionResult) (persist func() error, err error) {
	data, err := c.encode(ctx, actionDigest, r)
	if err != nil {
		return nil, err
	}
	s := &stagedResult{data: data}
	c.mu.Lock()
	c.staged[actionDigest] = s
	c.mu.Unlock()
	return func() error {
		if err := c.write(actionDigest, data, s); err != nil {
			return rpcstatus.Wrapf(err, "action cache: storing result for %s (it stays in memory until a restart)", actionDigest)
		}
		return nil
	}, nil
}

// encode validates r (see Put) and serializes it.
func (c *Cache) encode(ctx context.Context, actionDigest digest.Digest, r *repb.ActionResult) ([]byte, error) {
	if _, err := digest.New(actionDigest.Hash, actionDigest.Size); err != nil {
		return nil, rpcstatus.Wrapf(err, "action cache: action digest")
	}
	if r == nil {
		return nil, rpcstatus.Newf(codes.InvalidArgument, "action cache: result for %s is missing", actionDigest)
	}
	missing, err := c.missing(ctx, r)
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "action cache: result for %s", actionDigest)
	}
	if len(missing) > 0 {
		return nil, rpcstatus.MissingBlobs(missing, "action cache: result for %s references %d blobs missing from the CAS, first %s", actionDigest, len(missing), missing[0])
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		return nil, rpcstatus.WrapWithCode(err, codes.InvalidArgument, "action cache: serializing result for %s", actionDigest)
	}
	if len(data) > MaxResultBytes {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "action cache: result for %s is %d bytes serialized, limit %d", actionDigest, len(data), MaxResultBytes)
	}
	return data, nil
}

// write stores data as the result of d. For a staged result (s not nil) it
// writes nothing if s was superseded, and ends the staging once the file is
// in place; any other write supersedes what is staged for d.
func (c *Cache) write(d digest.Digest, data []byte, s *stagedResult) error {
	f, err := os.CreateTemp(c.tmpDir, "ac-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	superseded := false
	if err == nil {
		c.mu.Lock()
		superseded = s != nil && c.staged[d] != s
		if !superseded {
			p := c.path(d)
			if fi, lerr := os.Lstat(p); lerr == nil && fi.IsDir() {
				// A directory would make the rename fail forever; it can only be debris.
				_ = os.RemoveAll(p)
			}
			if err = os.Rename(f.Name(), p); err == nil {
				delete(c.staged, d)
			}
		}
		c.mu.Unlock()
	}
	if err != nil || superseded {
		_ = os.Remove(f.Name())
		return err
	}
	return syncDir(c.dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// missing validates every digest r refers to and finds the ones the CAS
// lacks (in order, without duplicates). Trees are read from the CAS to
// reach their files; a Tree that is itself missing is reported and its
// files are not.
func (c *Cache) missing(ctx context.Context, r *repb.ActionResult) ([]digest.Digest, error) {
	var ds []digest.Digest
	add := func(what string, pd *repb.Digest, required bool) error {
		if pd == nil && !required {
			return nil
		}
		d, err := digest.FromProto(pd)
		if err != nil {
			return rpcstatus.Wrapf(err, "%s", what)
		}
		ds = append(ds, d)
		return nil
	}
	for _, f := range r.GetOutputFiles() {
		if err := add(fmt.Sprintf("output file %q", f.GetPath()), f.GetDigest(), true); err != nil {
			return nil, err
		}
	}
	if err := add("stdout", r.GetStdoutDigest(), false); err != nil {
		return nil, err
	}
	if err := add("stderr", r.GetStderrDigest(), false); err != nil {
		return nil, err
	}
	var trees []digest.Digest
	for _, dir := range r.GetOutputDirectories() {
		what := fmt.Sprintf("output directory %q", dir.GetPath())
		td, err := digest.FromProto(dir.GetTreeDigest())
		if err != nil {
			return nil, rpcstatus.Wrapf(err, "%s: tree digest", what)
		}
		ds = append(ds, td)
		trees = append(trees, td)
		if err := add(what+": root directory digest", dir.GetRootDirectoryDigest(), false); err != nil {
			return nil, err
		}
	}
	treeMissing := c.store.FindMissing(ctx, trees)
	absent := make(map[digest.Digest]bool, len(treeMissing))
	for _, d := range treeMissing {
		absent[d] = true
	}
	type readTree struct {
		files, dirs []digest.Digest
		root        digest.Digest
		filesAdded  bool
	}
	read := make(map[digest.Digest]*readTree, len(trees))
	for i, td := range trees {
		if absent[td] {
			continue
		}
		od := r.GetOutputDirectories()[i]
		t := read[td]
		if t == nil {
			files, dirs, root, err := c.treeFiles(ctx, td, od.GetPath())
			if rpcstatus.Code(err) == codes.NotFound {
				// Evicted between FindMissing and the read.
				ds = append(ds, td)
				absent[td] = true
				continue
			}
			if err != nil {
				return nil, err
			}
			t = &readTree{files: files, dirs: dirs, root: root}
			read[td] = t
		}
		if !t.filesAdded {
			ds = append(ds, t.files...)
			t.filesAdded = true
		}
		// Every output directory naming this Tree gets its own check.
		if rd := od.GetRootDirectoryDigest(); rd != nil {
			if d, _ := digest.FromProto(rd); d != t.root {
				return nil, rpcstatus.Newf(codes.InvalidArgument, "output directory %q: root_directory_digest %s is not the digest %s of its Tree's root", od.GetPath(), d, t.root)
			}
			// The client may walk the Directories instead of the Tree.
			ds = append(ds, t.dirs...)
		}
	}
	return c.store.FindMissing(ctx, ds), nil
}

// treeFiles returns the digests of every file in the Tree blob td, of
// every Directory below its root, and of the root Directory as encoded in
// the Tree (the bytes themselves: re-encoding need not reproduce them).
func (c *Cache) treeFiles(ctx context.Context, td digest.Digest, path string) (files, subdirs []digest.Digest, root digest.Digest, err error) {
	data, err := c.store.ReadAll(ctx, td, MaxTreeBytes)
	if err != nil {
		return nil, nil, root, rpcstatus.Wrapf(err, "output directory %q: reading tree %s", path, td)
	}
	tree := &repb.Tree{}
	if err := proto.Unmarshal(data, tree); err != nil {
		return nil, nil, root, rpcstatus.Newf(codes.InvalidArgument, "output directory %q: tree %s is not a valid Tree: %v", path, td, err)
	}
	root = digest.OfBytes(rootBytes(data))
	dirs := append([]*repb.Directory{tree.GetRoot()}, tree.GetChildren()...)
	for _, dir := range dirs {
		for _, f := range dir.GetFiles() {
			d, err := digest.FromProto(f.GetDigest())
			if err != nil {
				return nil, nil, root, rpcstatus.Wrapf(err, "output directory %q: tree %s: file %q", path, td, f.GetName())
			}
			files = append(files, d)
		}
		for _, sub := range dir.GetDirectories() {
			d, err := digest.FromProto(sub.GetDigest())
			if err != nil {
				return nil, nil, root, rpcstatus.Wrapf(err, "output directory %q: tree %s: directory %q", path, td, sub.GetName())
			}
			subdirs = append(subdirs, d)
		}
	}
	return files, subdirs, root, nil
}

// rootBytes returns the encoded root Directory of a valid Tree message:
// its field 1, or all of them concatenated, which encodes the message they
// merge into (an absent root is the empty Directory).
func rootBytes(tree []byte) []byte {
	var root []byte
	for len(tree) > 0 {
		num, typ, n := protowire.ConsumeTag(tree)
		if n < 0 {
			break
		}
		tree = tree[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(tree)
			if m < 0 {
				break
			}
			root = append(root, v...)
			tree = tree[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, tree)
		if m < 0 {
			break
		}
		tree = tree[m:]
	}
	return root
}
