// Package executortest has in-memory fakes of the executor's collaborators,
// for tests of the executor and of the services built on it.
package executortest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/rpcstatus"
	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/sandbox"
)

// Store is an in-memory CAS.
type Store struct {
	mu    sync.Mutex
	blobs map[digest.Digest][]byte
}

// NewStore returns an empty Store.
func NewStore() *Store { return &Store{blobs: map[digest.Digest][]byte{}} }

// Add stores b and returns its digest.
func (s *Store) Add(b []byte) digest.Digest {
	d := digest.OfBytes(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blobs[d] = append([]byte(nil), b...)
	return d
}

// AddMessage stores m's deterministic encoding and returns its digest.
func (s *Store) AddMessage(m proto.Message) digest.Digest {
	b, _, err := digest.OfMessage(m)
	if err != nil {
		panic(err)
	}
	return s.Add(b)
}

// Blob returns the stored bytes of d.
func (s *Store) Blob(d digest.Digest) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[d]
	return b, ok
}

// ReadAll implements executor.Store.
func (s *Store) ReadAll(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "blob %s exceeds %d bytes", d, limit)
	}
	b, ok := s.Blob(d)
	if !ok {
		return nil, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
	}
	return b, nil
}

// FlushFailures implements executor.Store: the fake never flushes.
func (s *Store) FlushFailures() int64 { return 0 }

// MoveFile implements executor.Store.
func (s *Store) MoveFile(ctx context.Context, path string, failuresBefore int64) (digest.Digest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return digest.Digest{}, err
	}
	if err := os.Remove(path); err != nil {
		return digest.Digest{}, err
	}
	return s.Add(b), nil
}

// ActionCache is an in-memory action cache that counts writes.
type ActionCache struct {
	mu      sync.Mutex
	results map[digest.Digest]*repb.ActionResult
	puts    int
}

// NewActionCache returns an empty ActionCache.
func NewActionCache() *ActionCache {
	return &ActionCache{results: map[digest.Digest]*repb.ActionResult{}}
}

// Get implements executor.ActionCache.
func (c *ActionCache) Get(ctx context.Context, d digest.Digest) (*repb.ActionResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.results[d]
	if !ok {
		return nil, rpcstatus.Newf(codes.NotFound, "no action result for %s", d)
	}
	return proto.Clone(r).(*repb.ActionResult), nil
}

// Put stores r as the result of d.
func (c *ActionCache) Put(ctx context.Context, d digest.Digest, r *repb.ActionResult) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.results[d] = proto.Clone(r).(*repb.ActionResult)
	c.puts++
	return nil
}

// Stage implements executor.ActionCache: it is Put, with nothing left to
// persist.
func (c *ActionCache) Stage(ctx context.Context, d digest.Digest, r *repb.ActionResult) (func() error, error) {
	if err := c.Put(ctx, d, r); err != nil {
		return nil, err
	}
	return func() error { return nil }, nil
}

// Puts counts Put and Stage calls.
func (c *ActionCache) Puts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.puts
}

// Roots is a RootBuilder whose roots are a fixed mount and whose outputs
// come from Collect.
type Roots struct {
	// PrepareErr, when set, is returned by Prepare.
	PrepareErr error
	// Collect, when set, fills in outputs.
	Collect func(ctx context.Context, cmd *repb.Command, res *repb.ActionResult) error
	// ScratchDir, when set, is where the roots' stdio directories are made
	// (else the system's temporary directory).
	ScratchDir string
	prepared   atomic.Int64
	closed     atomic.Int64
}

// Prepare implements executor.RootBuilder.
func (r *Roots) Prepare(ctx context.Context, inputRoot digest.Digest, cmd *repb.Command, opts execroot.PrepareOptions) (executor.Root, error) {
	if r.PrepareErr != nil {
		return nil, r.PrepareErr
	}
	r.prepared.Add(1)
	return &root{roots: r, source: "/fake/inputs/" + inputRoot.FileName()}, nil
}

// Open counts prepared roots not yet closed.
func (r *Roots) Open() int64 { return r.prepared.Load() - r.closed.Load() }

type root struct {
	roots       *Roots
	source      string
	once        sync.Once
	scratchOnce sync.Once
	scratch     string
}

func (r *root) Mounts(target string) []sandbox.Mount {
	return []sandbox.Mount{{Kind: sandbox.Bind, Source: r.source, Target: target}}
}

func (r *root) CollectOutputs(ctx context.Context, cmd *repb.Command, res *repb.ActionResult) error {
	if r.roots.Collect != nil {
		return r.roots.Collect(ctx, cmd, res)
	}
	return nil
}

// StdioFiles names two files in a temporary directory made on first use;
// Close removes it.
func (r *root) StdioFiles() (stdout, stderr string) {
	r.scratchOnce.Do(func() {
		dir, err := os.MkdirTemp(r.roots.ScratchDir, "executortest-scratch-")
		if err != nil {
			panic(err)
		}
		r.scratch = dir
	})
	return filepath.Join(r.scratch, "stdout"), filepath.Join(r.scratch, "stderr")
}

func (r *root) Close() error {
	r.once.Do(func() {
		r.roots.closed.Add(1)
		r.scratchOnce.Do(func() {})
		if r.scratch != "" {
			_ = os.RemoveAll(r.scratch)
		}
	})
	return nil
}

// Runner runs Func (by default: write "out" to stdout and exit 0) and keeps
// count of runs, concurrency and the specs it saw.
type Runner struct {
	Func func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error)

	mu            sync.Mutex
	runs          int
	running       int
	maxConcurrent int
	specs         []sandbox.Spec
	started       chan sandbox.Spec
}

// Started returns a channel that receives each spec as its run starts.
func (r *Runner) Started() <-chan sandbox.Spec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.startedLocked()
}

func (r *Runner) startedLocked() chan sandbox.Spec {
	if r.started == nil {
		r.started = make(chan sandbox.Spec, 1000)
	}
	return r.started
}

// Run implements executor.Runner.
func (r *Runner) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	r.mu.Lock()
	r.runs++
	r.running++
	r.maxConcurrent = max(r.maxConcurrent, r.running)
	r.specs = append(r.specs, spec)
	started := r.startedLocked()
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running--
		r.mu.Unlock()
	}()
	select {
	case started <- spec:
	default: // nobody is looking
	}
	if r.Func != nil {
		return r.Func(ctx, spec)
	}
	return WriteStdio(spec, "out", "")
}

// Runs counts Run calls.
func (r *Runner) Runs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs
}

// MaxConcurrent is the most runs that were in progress at once.
func (r *Runner) MaxConcurrent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxConcurrent
}

// Specs returns the specs of all runs so far.
func (r *Runner) Specs() []sandbox.Spec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sandbox.Spec(nil), r.specs...)
}

// WriteStdio writes the stdout and stderr files as a sandbox would and
// returns exit code 0.
func WriteStdio(spec sandbox.Spec, stdout, stderr string) (sandbox.Result, error) {
	if err := os.WriteFile(spec.Stdout, []byte(stdout), 0o644); err != nil {
		return sandbox.Result{}, err
	}
	if err := os.WriteFile(spec.Stderr, []byte(stderr), 0o644); err != nil {
		return sandbox.Result{}, err
	}
	return sandbox.Result{}, nil
}

// BlockUntil returns a Runner func that waits for release (then exits 0) or
// for ctx (then fails with CANCELLED, as the sandbox does).
func BlockUntil(release <-chan struct{}) func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	return func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
		select {
		case <-release:
			return WriteStdio(spec, "released", "")
		case <-ctx.Done():
			return sandbox.Result{}, rpcstatus.Newf(codes.Canceled, "sandbox: action killed: %v", context.Cause(ctx))
		}
	}
}

// Runtimes is a catalog with the given libc names, each mounting
// /runtimes/<name> at /lib, plus bash when requested and /etc always; and
// with the given rootfs names, each mounting /runtimes/<name>/usr at /usr
// and, when listed in RootfsWithBash, /runtimes/<name>/bin at /bin.
type Runtimes struct {
	Libcs          []string
	Rootfs         []string
	RootfsWithBash []string
	// Provides maps sandbox paths to the runtimes holding them.
	Provides map[string][]runtimes.Provider
}

// Providers implements executor.Runtimes.
func (r *Runtimes) Providers(p string) []runtimes.Provider { return r.Provides[p] }

// Names implements executor.Runtimes.
func (r *Runtimes) Names() []string { return append([]string(nil), r.Libcs...) }

// RootfsNames implements executor.Runtimes.
func (r *Runtimes) RootfsNames() []string { return append([]string(nil), r.Rootfs...) }

// Mounts implements executor.Runtimes.
func (r *Runtimes) Mounts(req runtimes.Request) ([]runtimes.Mount, error) {
	mounts := []runtimes.Mount{{Source: "/runtimes/common/etc", Target: "/etc"}}
	if req.Rootfs != "" {
		if !slices.Contains(r.Rootfs, req.Rootfs) {
			return nil, &runtimes.UnknownRuntimeError{Kind: runtimes.KindRootfs, Requested: req.Rootfs, Arch: "amd64", Available: r.RootfsNames()}
		}
		if req.Libc != "" && req.Libc != "none" {
			return nil, fmt.Errorf("libc with rootfs: %w", runtimes.ErrConflictingRuntimes)
		}
		mounts = append(mounts, runtimes.Mount{Source: "/runtimes/" + req.Rootfs + "/usr", Target: "/usr"})
		if slices.Contains(r.RootfsWithBash, req.Rootfs) {
			mounts = append(mounts, runtimes.Mount{Source: "/runtimes/" + req.Rootfs + "/bin", Target: "/bin"})
		} else if req.Bash {
			return nil, fmt.Errorf("rootfs %s has no bash: %w", req.Rootfs, runtimes.ErrConflictingRuntimes)
		}
		return mounts, nil
	}
	if req.Libc != "" && req.Libc != "none" {
		if !slices.Contains(r.Libcs, req.Libc) {
			return nil, &runtimes.UnknownRuntimeError{Kind: runtimes.KindLibc, Requested: req.Libc, Arch: "amd64", Available: r.Names()}
		}
		mounts = append(mounts, runtimes.Mount{Source: "/runtimes/" + req.Libc + "/lib", Target: "/lib"})
	}
	if req.Bash {
		mounts = append(mounts,
			runtimes.Mount{Source: "/runtimes/bash/bin", Target: "/bin"},
			runtimes.Mount{Source: "/runtimes/bash/bin", Target: "/usr/bin"})
	}
	return mounts, nil
}
