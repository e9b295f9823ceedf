package executor

import (
	"context"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/sandbox"
)

// The executor's view of its collaborators. Each interface holds only what the
// pipeline calls, so tests can pass small hand-written fakes. The daemon
// passes *cas.Store, *actioncache.Cache, *sandbox.Runner and
// *runtimes.Catalog as they are, and *execroot.Builder through ExecRoots
// (its Prepare returns the concrete *execroot.Root).

// Store is the CAS: the Action and Command are read from it and stdout and
// stderr are stored into it.
type Store interface {
	// ReadAll returns the blob, NOT_FOUND when it is absent, and an error when
	// it is larger than limit.
	ReadAll(ctx context.Context, d digest.Digest, limit int64) ([]byte, error)
	// MoveFile stores the file at path, consuming it, and returns its
	// digest. failuresBefore is FlushFailures sampled before the file was
	// written: if a flush failed since, the file is copied instead.
	MoveFile(ctx context.Context, path string, failuresBefore int64) (digest.Digest, error)
	// FlushFailures counts the store's failed filesystem flushes.
	FlushFailures() int64
}

// ActionCache holds results keyed by action digest.
type ActionCache interface {
	// Get returns NOT_FOUND when there is no entry.
	Get(ctx context.Context, d digest.Digest) (*repb.ActionResult, error)
	// Stage makes r the result of d for Get at once; persist writes it to
	// disk and may run later, on any goroutine.
	Stage(ctx context.Context, d digest.Digest, r *repb.ActionResult) (persist func() error, err error)
}

// RootBuilder turns an input root digest into a directory an action can use.
type RootBuilder interface {
	// Prepare fails with FAILED_PRECONDITION (PreconditionFailure details)
	// when blobs are missing and INVALID_ARGUMENT for bad paths.
	Prepare(ctx context.Context, inputRoot digest.Digest, cmd *repb.Command, opts execroot.PrepareOptions) (Root, error)
}

// Root is one prepared input root.
type Root interface {
	// Mounts returns the mounts that make the root appear at target.
	Mounts(target string) []sandbox.Mount
	// CollectOutputs stores the command's outputs into the CAS and records
	// them in res. Budget overruns are RESOURCE_EXHAUSTED.
	CollectOutputs(ctx context.Context, cmd *repb.Command, res *repb.ActionResult) error
	// StdioFiles names two files for the action's stdout and stderr, best
	// made ahead and on the CAS's file system so that storing them is a
	// rename; they go with Close.
	StdioFiles() (stdout, stderr string)
	// Close releases the root's directory.
	Close() error
}

// Runner runs one command in a sandbox.
type Runner interface {
	// Run returns an error only when the sandbox could not be set up (or ctx
	// was cancelled); a command that cannot be executed is exit code 127.
	Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error)
}

// Runtimes is the catalog of runtime images (libc trees, static bash,
// rootfs toolchains).
type Runtimes interface {
	// Names lists the libc runtimes that exist, for error messages and for
	// validating a libc property before asking for its mounts.
	Names() []string
	// RootfsNames lists the rootfs runtimes that exist, likewise for the
	// runtime property.
	RootfsNames() []string
	// Mounts returns the bind mounts for req: a libc ("" or "none": no
	// libc) or a rootfs, and, when req.Bash is set, a bash.
	// The error wraps runtimes.ErrUnknownRuntime for a runtime the image
	// lacks and runtimes.ErrConflictingRuntimes for a request that cannot
	// be met as a whole.
	Mounts(req runtimes.Request) ([]runtimes.Mount, error)
	// Providers lists the runtimes that hold the sandbox path p, for
	// telling an action that missed p which exec property brings it.
	Providers(p string) []runtimes.Provider
}

// ExecRoots adapts an *execroot.Builder to RootBuilder: its Prepare returns
// the concrete *execroot.Root.
func ExecRoots(b *execroot.Builder) RootBuilder { return execRoots{b} }

type execRoots struct{ b *execroot.Builder }

func (r execRoots) Prepare(ctx context.Context, inputRoot digest.Digest, cmd *repb.Command, opts execroot.PrepareOptions) (Root, error) {
	root, err := r.b.Prepare(ctx, inputRoot, cmd, opts)
	if err != nil {
		// Returning root would make a non-nil interface of a nil pointer.
		return nil, err
	}
	return root, nil
}

// The real collaborators fit the interfaces.
var (
	_ Root     = (*execroot.Root)(nil)
	_ Runtimes = (*runtimes.Catalog)(nil)
)
