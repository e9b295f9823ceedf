package execroot

import (
	"path"
	"path/filepath"
	"sync"

	"github.com/actiond/actiond/go/sandbox"
)

// Root is one action's prepared input root. It holds references to the
// cached trees it mounts until Close.
type Root struct {
	b     *Builder
	tree  *inputTree
	wd    []string
	lower *entry
	binds []bindMount
	dir   string // per-action directory holding upper and work
	// created lists, by parent, the directories made in the lower tree
	// for outputs, which the Directory protos do not show.
	created map[string][]string
	upper   string
	work    string
	// lockInputs: the inputs are read-only to the action (the default, see
	// PrepareOptions.MutableInputs).
	lockInputs bool
	// flushFailures is the store's FlushFailures before the action could
	// write anything: outputs are moved into the store only if no flush
	// failed since (see cas.Store.MoveFile).
	flushFailures int64

	closeOnce sync.Once
	closeErr  error
}

type bindMount struct {
	rel string
	e   *entry
}

// Mounts returns the mounts that make the input root appear at target (an
// absolute path inside the sandbox): an overlay whose lower layer is the
// materialized input tree and whose upper layer receives everything the
// action writes, then read-only binds of large unchanged subtrees from the
// directory cache onto their (empty) mount points in the lower tree.
//
// The lower tree's files are hard links of CAS blobs; the overlay makes any
// write to them a copy-up into the upper layer, so no action can modify a
// CAS file. The overlay must be mounted without metacopy and redirect_dir
// (the kernel defaults), which CollectOutputs relies on.
func (r *Root) Mounts(target string) []sandbox.Mount {
	ms := make([]sandbox.Mount, 0, 1+len(r.binds))
	ms = append(ms, sandbox.Mount{Kind: sandbox.Overlay, Target: target, Lower: []string{r.lower.path}, Upper: r.upper, Work: r.work, LockInputs: r.lockInputs})
	for _, bm := range r.binds {
		ms = append(ms, sandbox.Mount{Kind: sandbox.Bind, Source: bm.e.path, Target: path.Join(target, bm.rel), ReadOnly: true})
	}
	return ms
}

// StdioFiles returns two empty files, private to the daemon, made ahead of
// the action on the CAS's file system (so that storing them is a rename)
// for its stdout and stderr. They go with Close.
func (r *Root) StdioFiles() (stdout, stderr string) {
	return filepath.Join(r.dir, stdoutFile), filepath.Join(r.dir, stderrFile)
}

// Close removes the per-action directories and releases the cached trees
// (which may then be evicted) and, with them, their CAS pins. No process may
// use the mounts any more; a dying sandbox may still hold them in its mount
// namespace, which does not keep the directories from being removed.
func (r *Root) Close() error {
	r.closeOnce.Do(func() {
		if r.dir != "" {
			r.closeErr = r.b.dirs.put(r.dir)
		}
		for _, bm := range r.binds {
			r.b.cache.release(bm.e)
		}
		if r.lower != nil {
			r.b.cache.release(r.lower)
		}
	})
	return r.closeErr
}
