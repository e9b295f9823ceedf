package execroot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/internal/rmtree"
	"github.com/actiond/actiond/go/rpcstatus"
)

// Defaults for the zero values of Options and Budgets.
const (
	DefaultMaxCacheEntries     = 256
	DefaultMaxCacheBytes       = 4 << 30
	DefaultBindThreshold       = 32
	DefaultMaxOutputFileBytes  = 1 << 30
	DefaultMaxTotalOutputBytes = 4 << 30
	DefaultMaxEntries          = 262144

	DefaultMaxInputEntries        = 4_000_000
	DefaultMaxInputBytes          = 64 << 30
	DefaultMaxInputDirectories    = 1_000_000
	DefaultMaxInputDirectoryBytes = 512 << 20
)

// Budgets bound what one action may take in and put out. Going over an
// input limit fails Prepare, going over an output limit fails
// CollectOutputs, both with RESOURCE_EXHAUSTED naming the limit. Zero means
// the default.
type Budgets struct {
	// MaxOutputFileBytes bounds each output file (default 1 GiB).
	MaxOutputFileBytes int64
	// MaxTotalOutputBytes bounds the sum of all output files, including the
	// files inside output directories (default 4 GiB).
	MaxTotalOutputBytes int64
	// MaxEntries bounds the files, directories and symlinks of all outputs
	// together (default 262144).
	MaxEntries int

	// MaxInputEntries bounds the files, directories and symlinks of an input
	// root as materialized, counting a Directory that occurs under several
	// names once per occurrence (default 4,000,000). Merkle trees can repeat
	// a child at every level, so a few tiny Directory protos can describe
	// 2^n entries; such trees are refused before anything is created.
	MaxInputEntries int64
	// MaxInputBytes bounds the file bytes of an input root, counted the same
	// way (default 64 GiB).
	MaxInputBytes int64
	// MaxInputDirectories bounds the distinct Directory protos of an input
	// root, each read and kept in memory while the tree is cached (default
	// 1,000,000).
	MaxInputDirectories int
	// MaxInputDirectoryBytes bounds those protos' bytes together (default
	// 512 MiB). Each one is also limited to 64 MiB.
	MaxInputDirectoryBytes int64
}

// Options configure a Builder.
type Options struct {
	// Store is the CAS the inputs come from and the outputs go to
	// (*cas.Store). WorkDir must be on the same file system for hard links
	// and moves; otherwise inputs are copied.
	Store BlobStore
	// WorkDir holds the directory cache, the lower trees, the per-action
	// directories and temp dirs. Its contents are wiped by New.
	WorkDir string
	Logger  *slog.Logger
	// ActionUID and ActionGID own every directory an action may create
	// entries in (the lower tree's directories, the upper dir, created
	// output parents) when the daemon runs as root; the sandbox runs the
	// command as this user. Both zero means 65534 (nobody/nogroup), as in
	// the sandbox. Without root, directories keep the daemon's owner, which
	// is then also the action's.
	ActionUID, ActionGID int
	// MaxCacheEntries bounds the unreferenced materialized trees kept on
	// disk (directory-cache trees and lower trees together; default 256).
	MaxCacheEntries int
	// MaxCacheBytes bounds the bytes of CAS blobs that cached trees pin
	// (counted per tree, so a blob in two trees counts twice; default 4 GiB).
	// Pinned blobs cannot be evicted from the CAS, so keep this well below
	// the CAS size.
	MaxCacheBytes int64
	// BindThreshold is the number of files (and symlinks) from which a
	// subtree without outputs is bind-mounted from the directory cache
	// instead of being linked into the lower tree (default 32).
	BindThreshold int
	Budgets
}

// Builder prepares input roots for actions. It is safe for concurrent use.
type Builder struct {
	store     BlobStore
	log       *slog.Logger
	workDir   string
	uid, gid  int
	chown     bool
	threshold int64
	budgets   Budgets
	seq       seqGen
	trees     treeCache
	cache     cache
	dirs      actionDirs

	rootHits, rootMisses, dirHits, dirMisses atomic.Uint64
	linked, copied                           atomic.Uint64
}

// Stats are counters since New.
type Stats struct {
	// TreeHits and TreeMisses count input roots found validated in memory
	// or fetched from the CAS.
	TreeHits, TreeMisses uint64
	// RootHits and RootMisses count lower trees of input roots reused or
	// materialized.
	RootHits, RootMisses uint64
	// DirHits and DirMisses count directory-cache trees reused or
	// materialized for read-only binds.
	DirHits, DirMisses uint64
	// Entries is the number of materialized trees on disk (in use or not),
	// PinnedBytes the CAS bytes they pin.
	Entries     int
	PinnedBytes int64
	Evictions   uint64
	// FilesLinked and FilesCopied count input files hard-linked from the
	// CAS and copied because linking failed (EMLINK, EXDEV).
	FilesLinked, FilesCopied uint64
}

// Subdirectories of WorkDir.
const (
	dirCacheDir = "dircache"
	rootsDir    = "roots"
	actionsDir  = "actions"
	tmpDir      = "tmp"
)

// New returns a Builder working in opts.WorkDir, removing whatever a previous
// run left there.
func New(ctx context.Context, opts Options) (*Builder, error) {
	if opts.Store == nil {
		return nil, rpcstatus.Newf(codes.InvalidArgument, "execroot: no store")
	}
	if opts.WorkDir == "" {
		return nil, rpcstatus.Newf(codes.InvalidArgument, "execroot: no work directory")
	}
	wd, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, rpcstatus.Newf(codes.InvalidArgument, "execroot: work directory: %v", err)
	}
	b := &Builder{
		store:     opts.Store,
		log:       opts.Logger,
		workDir:   wd,
		uid:       opts.ActionUID,
		gid:       opts.ActionGID,
		threshold: int64(orDefault(opts.BindThreshold, DefaultBindThreshold)),
		budgets: Budgets{
			MaxOutputFileBytes:  orDefault(opts.MaxOutputFileBytes, DefaultMaxOutputFileBytes),
			MaxTotalOutputBytes: orDefault(opts.MaxTotalOutputBytes, DefaultMaxTotalOutputBytes),
			MaxEntries:          orDefault(opts.MaxEntries, DefaultMaxEntries),

			MaxInputEntries:        orDefault(opts.MaxInputEntries, DefaultMaxInputEntries),
			MaxInputBytes:          orDefault(opts.MaxInputBytes, DefaultMaxInputBytes),
			MaxInputDirectories:    orDefault(opts.MaxInputDirectories, DefaultMaxInputDirectories),
			MaxInputDirectoryBytes: orDefault(opts.MaxInputDirectoryBytes, DefaultMaxInputDirectoryBytes),
		},
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.uid == 0 && b.gid == 0 {
		b.uid, b.gid = 65534, 65534
	}
	b.chown = os.Geteuid() == 0
	b.trees = treeCache{m: make(map[string]*treeEntry), maxEntries: orDefault(opts.MaxCacheEntries, DefaultMaxCacheEntries)}
	b.cache = cache{
		entries:    make(map[string]*entry),
		maxEntries: orDefault(opts.MaxCacheEntries, DefaultMaxCacheEntries),
		maxBytes:   orDefault(opts.MaxCacheBytes, DefaultMaxCacheBytes),
		trash:      filepath.Join(wd, tmpDir),
		seq:        &b.seq,
		failures:   opts.Store.FlushFailures,
	}
	start := time.Now()
	if err := os.MkdirAll(wd, 0o700); err != nil {
		return nil, rpcstatus.Newf(codes.Internal, "execroot: create work directory: %v", err)
	}
	for _, sub := range []string{dirCacheDir, rootsDir, actionsDir, tmpDir} {
		p := filepath.Join(wd, sub)
		if err := rmtree.Remove(p); err != nil {
			return nil, rpcstatus.Newf(codes.Internal, "execroot: clean %s: %v", p, err)
		}
		if err := os.Mkdir(p, 0o700); err != nil {
			return nil, rpcstatus.Newf(codes.Internal, "execroot: %v", err)
		}
	}
	b.log.DebugContext(ctx, "execroot work directory cleaned", slog.String("work_dir", wd), slog.Duration("took", time.Since(start)))
	b.dirs.start(b)
	return b, nil
}

func orDefault[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// PrepareOptions are the per-action choices of Prepare.
type PrepareOptions struct {
	// MutableInputs gives the action a view of its inputs that it may
	// change: their directories are its own, so it can delete, rename and
	// replace inputs (in the overlay; the cached tree never changes). By
	// default inputs are read-only to the action (see "What an action
	// sees" in the package doc).
	MutableInputs bool
}

// Prepare validates the input root and cmd's paths and returns a Root: a
// lower tree (cached per input root and bind set), read-only binds of large
// subtrees from the directory cache, and fresh per-action upper and work
// directories for the overlay in which the action writes.
func (b *Builder) Prepare(ctx context.Context, inputRoot digest.Digest, cmd *repb.Command, opts PrepareOptions) (*Root, error) {
	wd, outs, err := commandOutputs(cmd)
	if err != nil {
		return nil, err
	}
	tree, _, err := b.trees.get(ctx, inputRoot.FileName(), func() (*inputTree, error) {
		return fetchTree(ctx, b.store, inputRoot, treeLimits{
			entries:  b.budgets.MaxInputEntries,
			bytes:    b.budgets.MaxInputBytes,
			dirs:     b.budgets.MaxInputDirectories,
			dirBytes: b.budgets.MaxInputDirectoryBytes,
		})
	})
	if err != nil {
		return nil, err
	}
	p, err := planFor(tree, wd, outs, b.threshold, opts.MutableInputs)
	if err != nil {
		return nil, err
	}

	r := &Root{b: b, tree: tree, wd: wd, created: createdChildren(p.mkdirs), lockInputs: !p.mutable, flushFailures: b.store.FlushFailures()}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	skip := make(map[string]bool, len(p.binds))
	for _, bt := range p.binds {
		skip[bt.rel] = true
		e, hit, err := b.cache.acquire(ctx, "d/"+bt.dir.FileName(), func() (builtTree, error) {
			return b.build(ctx, buildSpec{
				tree:  tree,
				dir:   bt.dir,
				final: filepath.Join(b.workDir, dirCacheDir, bt.dir.FileName()),
			})
		})
		if err != nil {
			return nil, err
		}
		count(hit, &b.dirHits, &b.dirMisses)
		r.binds = append(r.binds, bindMount{rel: bt.rel, e: e})
	}
	name := inputRoot.FileName() + "-" + planKey(p)
	e, hit, err := b.cache.acquire(ctx, "r/"+name, func() (builtTree, error) {
		return b.build(ctx, buildSpec{
			tree:   tree,
			dir:    inputRoot,
			skip:   skip,
			mkdirs: p.mkdirs,
			dirs:   p.inputDirs(),
			unlock: toSet(p.unlocked),
			final:  filepath.Join(b.workDir, rootsDir, name),
		})
	})
	if err != nil {
		return nil, err
	}
	count(hit, &b.rootHits, &b.rootMisses)
	r.lower = e

	dir, err := b.dirs.get()
	if err != nil {
		return nil, err
	}
	if p.rootUnlocked() {
		// Pre-made upper directories are locked ones (see actionDirs.fill).
		if err := b.setDirOwnership(filepath.Join(dir, "upper"), actionOwnedDir); err != nil {
			_ = b.dirs.put(dir)
			return nil, err
		}
	}
	r.dir, r.upper, r.work = dir, filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	ok = true
	return r, nil
}

// dirOwnership is who owns a directory of a lower tree or an upper
// directory, and so what the action may do in it.
type dirOwnership int

const (
	// daemonDir: the daemon's, 0755; read-only to the action. Directory
	// cache trees, which are bound read-only anyway.
	daemonDir dirOwnership = iota
	// lockedInputDir: an input directory whose entries the action must not
	// change: the daemon's (as root, with the action's group), mode 01775,
	// so that the action may add entries but, by the sticky bit, remove or
	// rename none of the daemon's. In rootless mode the action is the owner
	// anyway; the sandbox then protects the entries with mounts
	// (sandbox.Mount.LockInputs), which take the sticky bit as the mark of
	// an input directory.
	lockedInputDir
	// actionOwnedDir: the action user's (as root), 0755: directories the
	// server creates for outputs, and every directory with MutableInputs.
	actionOwnedDir
)

// setDirOwnership gives the existing directory p its ownership and mode.
func (b *Builder) setDirOwnership(p string, o dirOwnership) error {
	var err error
	switch o {
	case lockedInputDir:
		// Not set by mkdir: the umask would clear the group's write bit.
		if err = os.Chmod(p, 0o775|os.ModeSticky); err == nil && b.chown {
			err = os.Lchown(p, -1, b.gid)
		}
	case actionOwnedDir:
		if err = os.Chmod(p, 0o755); err == nil && b.chown {
			err = os.Lchown(p, b.uid, b.gid)
		}
	}
	if err != nil {
		return rpcstatus.Newf(codes.Internal, "set the owner and mode of directory %s: %v", p, err)
	}
	return nil
}

func count(hit bool, hits, misses *atomic.Uint64) {
	if hit {
		hits.Add(1)
	} else {
		misses.Add(1)
	}
}

// planKey names a plan: lower trees of one input root differ only in which
// subtrees are left as mount points and which output parents were added.
func planKey(p plan) string {
	if len(p.binds) == 0 && len(p.mkdirs) == 0 && len(p.unlocked) == 0 && !p.mutable {
		return "0"
	}
	h := sha256.New()
	if p.mutable {
		h.Write([]byte("mutable\x00"))
	}
	for _, bt := range p.binds {
		h.Write([]byte(bt.rel))
		h.Write([]byte{0})
	}
	h.Write([]byte{1})
	for _, rel := range p.mkdirs {
		h.Write([]byte(rel))
		h.Write([]byte{0})
	}
	h.Write([]byte{2})
	for _, rel := range p.unlocked {
		h.Write([]byte(rel))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// createdChildren indexes directories made for outputs by parent, for the
// merged view (they are not in the Directory protos).
func createdChildren(mkdirs []string) map[string][]string {
	if len(mkdirs) == 0 {
		return nil
	}
	m := make(map[string][]string)
	for _, rel := range mkdirs {
		parent, name := "", rel
		if i := strings.LastIndexByte(rel, '/'); i >= 0 {
			parent, name = rel[:i], rel[i+1:]
		}
		m[parent] = append(m[parent], name)
	}
	return m
}

// buildSpec is what Builder.build materializes, and where.
type buildSpec struct {
	tree *inputTree
	dir  digest.Digest // the Directory of tree to materialize
	// skip lists the subtrees (relative to dir) left as empty directories,
	// the mount points of binds from the directory cache.
	skip map[string]bool
	// mkdirs are directories (relative to dir, parents first) to create
	// that the Directory protos lack: output parents, the working directory.
	mkdirs []string
	dirs   dirOwnership // of the directories from the Directory protos
	// unlock lists the directories (relative to dir) that are the action's
	// own when dirs is lockedInputDir: a "/" suffix for one with all below
	// it, none for the directory alone (plan.unlocked).
	unlock map[string]bool
	final  string // the tree's path, before the unique suffix build adds
}

// builtTree is a materialized tree: its path and the CAS pins it holds for
// its lifetime.
type builtTree struct {
	path   string
	unpins []func()
	bytes  int64 // of the pinned blobs
}

// build materializes spec.dir into a temp dir and renames it to spec.final
// plus a unique suffix, so a half-built tree is never visible under its
// cache name. On error nothing stays pinned or on disk.
func (b *Builder) build(ctx context.Context, spec buildSpec) (builtTree, error) {
	start := time.Now()
	m := &materializer{b: b, tree: spec.tree, dirs: spec.dirs, unlock: spec.unlock, skip: spec.skip, srcs: make(map[digest.Digest]string), xsrcs: make(map[digest.Digest]string)}
	missing, err := m.pinAll(ctx, spec.dir)
	if err == nil && len(missing) > 0 {
		err = missingBlobsError(spec.tree.root, missing)
	}
	if err != nil {
		m.unpinAll()
		return builtTree{}, err
	}
	tmp := filepath.Join(b.workDir, tmpDir, b.seq.next())
	// A unique name: an evicted tree of the same key may still be on its
	// way out (cache.drop runs outside the lock).
	final := spec.final + "." + b.seq.next()
	err = m.mkdir(tmp, spec.dirs)
	if err == nil {
		err = m.write(ctx, tmp, spec.dir, "")
	}
	for _, rel := range spec.mkdirs {
		if err == nil {
			err = m.mkdir(filepath.Join(tmp, rel), actionOwnedDir)
		}
	}
	if err == nil {
		if err = os.Rename(tmp, final); err != nil {
			err = rpcstatus.Newf(codes.Internal, "rename materialized tree: %v", err)
		}
	}
	if err != nil {
		m.unpinAll()
		_ = rmtree.Remove(tmp)
		return builtTree{}, err
	}
	b.log.DebugContext(ctx, "execroot materialized tree", slog.String("path", final), slog.Duration("took", time.Since(start)))
	return builtTree{path: final, unpins: m.pins, bytes: m.bytes}, nil
}

// Close stops the Builder's background work (pre-creating and removing
// per-action directories) after finishing pending removals. Roots closed
// afterwards remove their directories themselves.
func (b *Builder) Close() error {
	b.dirs.close()
	return nil
}

// Stats returns the counters.
func (b *Builder) Stats() Stats {
	entries, bytes, _, _, evictions := b.cache.stats()
	b.trees.mu.Lock()
	th, tm := b.trees.hits, b.trees.misses
	b.trees.mu.Unlock()
	return Stats{
		TreeHits: th, TreeMisses: tm,
		RootHits: b.rootHits.Load(), RootMisses: b.rootMisses.Load(),
		DirHits: b.dirHits.Load(), DirMisses: b.dirMisses.Load(),
		Entries: entries, PinnedBytes: bytes, Evictions: evictions,
		FilesLinked: b.linked.Load(), FilesCopied: b.copied.Load(),
	}
}

// seqGen names temp and per-action directories uniquely within a run.
type seqGen struct{ n atomic.Uint64 }

func (s *seqGen) next() string { return strconv.FormatUint(s.n.Add(1), 10) }

func toSet(ss []string) map[string]bool {
	if len(ss) == 0 {
		return nil
	}
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}
