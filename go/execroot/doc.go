// Package execroot turns an input root digest into the directory tree an
// action runs in, and the action's outputs back into CAS entries.
//
// # Layout
//
// Under Options.WorkDir (which must be on the CAS's file system, so that
// inputs are hard links and outputs are renames):
//
//	dircache/<hash>-<size>.<n>/      a Directory materialized in full, bound read-only into actions
//	roots/<hash>-<size>-<plan>.<n>/  the lower tree of an input root for one plan (see below)
//	actions/<n>/{upper,work}/        per-action overlay upper and work directories
//	tmp/                             trees being built (renamed into place when done) and trash
//
// New wipes all four.
//
// # What an action sees
//
// Root.Mounts returns an overlay at the target (say /execroot) whose lower
// layer is the lower tree and whose upper layer is the action's own, then
// read-only binds of directory-cache trees onto empty mount points in the
// lower tree. Files of the lower tree and of the directory cache are hard
// links of CAS blobs (mode 0444, or the store's 0555 executable variant;
// copies only when linking fails with EMLINK or EXDEV). The action cannot
// modify a CAS file through them: the overlay turns any write into a
// copy-up into the upper layer, the binds are read-only, and the files are
// the daemon's and not writable by the action user anyway.
//
// Directories of the lower tree are owned by ActionUID:ActionGID (65534
// unless set) with mode 0755 when the daemon is root, so the action can
// create outputs anywhere in the input tree (through the overlay, so the
// cached tree itself never changes); without root they keep the daemon's
// owner, which is then also the action's. Directory-cache trees stay the
// daemon's, mode 0755: they are read-only to the action.
//
// # The plan
//
// For each Command, Prepare derives a plan from the output paths and the
// working directory:
//
//   - Output parents and the working directory that the input tree lacks
//     are created (REAPI: the server creates them). They go into the lower
//     tree, so a repeated action creates no directories at all.
//   - A subtree with at least BindThreshold (32) files and symlinks that
//     holds no output, is not inside an output directory and does not
//     contain the working directory is bound from the directory cache
//     instead of being linked file by file. Toolchains and source trees
//     repeat across actions with different input roots; the directory
//     cache is keyed by Directory digest, so they are linked once.
//
// Lower trees are cached by input root digest plus a hash of the plan
// (Bazel rebuilds with --noremote_accept_cached send identical roots and
// commands), so a warm Prepare is a map lookup, a few reference counts and
// a pre-made action directory.
//
// # Caching, pins and eviction
//
// Validated input trees (Directory protos) are kept in memory, LRU-bounded
// by MaxCacheEntries. Materialized trees (directory cache and lower trees
// together) are reference counted while Roots use them; unreferenced ones
// are kept in LRU order and evicted (removed from disk) when there are more
// than MaxCacheEntries trees or they pin more than MaxCacheBytes of blobs.
// Each tree pins the CAS blobs it links for as long as it exists (so for at
// least the lifetime of every action using it), which keeps the CAS's byte
// accounting honest: an evicted blob's inode would otherwise live on behind
// our hard links. Concurrent Prepares of one tree build it once (the others
// wait; one that gives up does not stop the build, and if the building
// Prepare gives up, a waiter still interested builds it); building happens
// in tmp/ and ends with a rename.
//
// # Validation
//
// Prepare reads the Directories breadth first and checks each: names are
// single components (not empty, '.', '..', no '/' or NUL, at most 255
// bytes); files, directories and symlinks are each sorted and unique and no
// name is used by two kinds; digests are valid; symlink targets are
// relative (we advertise symlink_absolute_path_strategy DISALLOWED) and do
// not climb above the input root from where the directory occurs; nesting
// is at most 128 levels along every path; a Directory proto is at most 64
// MiB. Violations are INVALID_ARGUMENT naming the Directory's digest.
//
// A Directory may be named many times (one whose two entries name the same
// child, nested 40 deep, is 41 tiny protos but 2^40 files), so the tree is
// also measured as it would be materialized, counting each occurrence, with
// saturating counts: at most Budgets.MaxInputEntries files, directories and
// symlinks (4,000,000) and MaxInputBytes of files (64 GiB). Fetching is
// bounded by distinct Directories: at most MaxInputDirectories (1,000,000)
// of MaxInputDirectoryBytes (512 MiB) together, each accounted before it is
// read. Over a limit, Prepare fails with RESOURCE_EXHAUSTED naming the limit
// and the input root, before asking the CAS about any file and before
// creating anything.
//
// Missing Directories and file blobs are all collected (files with one
// FindMissing) and reported as one FAILED_PRECONDITION with a
// PreconditionFailure listing each as MISSING blobs/<hash>/<size>. Output
// paths and the working directory must be clean relative paths; a parent
// that is an input file or symlink is INVALID_ARGUMENT.
//
// # Outputs
//
// CollectOutputs reconstructs the merged view of the overlay without
// mounting anything: the upper directory's real files over the input
// Directory protos (which describe the lower tree and the binds exactly),
// honouring whiteouts (character devices 0/0) and opaque directories
// (trusted.overlay.opaque or user.overlay.opaque = "y"). The overlay must be
// mounted without metacopy and redirect_dir (the kernel defaults here); a
// redirect xattr fails collection. New files are moved into the CAS with
// MoveFile; unchanged input files reuse their input digests.
//
// Collection reads the upper directory by path (lstat, readlink, never
// following a symlink of the action) and so relies on the action being
// over: the sandbox's Run returns only once every process of the action is
// gone, so nothing can swap a directory for a symlink while it is read.
// Symlinks are reported as symlinks (an absolute target is
// FAILED_PRECONDITION) and followed only within the merged view, to decide
// their type. Outputs are bounded by Budgets.MaxEntries (an upper directory
// is read in batches and abandoned once over it), by maxDepth levels and
// by PATH_MAX for the path of an entry in the upper layer: each fails
// collection with RESOURCE_EXHAUSTED naming the limit.
package execroot
