package cas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// Options configures Open.
type Options struct {
	// Root is the daemon's state directory; the store lives under Root/cas.
	Root string
	// MaxBytes is the eviction limit: the sum of the sizes of all stored
	// blobs (and executable variants). 0 means DefaultMaxBytes.
	MaxBytes int64
	// Logger receives start-up and eviction logs; nil discards them.
	Logger *slog.Logger
	// StrictFsync makes every blob's bytes reach the disk (fdatasync) before
	// the blob is renamed into place, on top of the shared filesystem flush
	// after the rename. It costs one disk flush per blob again, and is only
	// needed on filesystems that may commit a file's size before its data
	// (ext4 without a journal or mounted data=writeback, or filesystems this
	// package does not know): Open turns it on by itself for all but ext4
	// with an ordered journal, xfs, btrfs and tmpfs, and always on macOS.
	StrictFsync bool
}

// Stats is a snapshot of the store's counters.
type Stats struct {
	Blobs     int64 // blobs in the index, the always present empty blob included
	Bytes     int64 // bytes counted against MaxBytes
	MaxBytes  int64 // the eviction limit in force
	Evictions int64 // blobs evicted since Open
	// Reserved is the space promised to in-flight writes: bytes they
	// hold (Writers reserve as bytes arrive, at most one reservation chunk
	// ahead of them; see Writer) and will count against MaxBytes once
	// installed. Bytes+Reserved never exceeds MaxBytes.
	Reserved int64
	// Syncs counts the filesystem flushes (syncfs) run since Open. Writes
	// that commit concurrently share flushes, so it grows far slower than
	// the number of blobs written.
	Syncs int64
	// SyncFailures counts the flushes that failed. Each one fails the
	// writes waiting for it and removes the blobs they renamed in.
	SyncFailures int64
}

// Store is the content-addressed store. It is safe for concurrent use.
type Store struct {
	base    string // Root/cas
	blobDir string // Root/cas/sha256
	execDir string // Root/cas/sha256x
	tmpDir  string // Root/cas/tmp
	max     int64
	chunk   int64 // how far ahead of its bytes a Writer reserves space
	logger  *slog.Logger
	uid     int
	gid     int
	strict  bool // Options.StrictFsync, or forced for the filesystem
	syncer  *groupSyncer

	// baseDir is an open descriptor of Root/cas for syncfs, nil after Close.
	baseMu  sync.RWMutex
	baseDir *os.File

	mu        sync.Mutex
	index     map[key]*entry
	lru       lru // unpinned entries only, most recently used first
	bytes     int64
	reserved  int64 // space promised to in-flight writes
	evictions int64
	// unsettled are executable variants not yet known to be on disk;
	// settling is set while settle runs.
	unsettled []unsettledExec
	settling  bool
	settlers  sync.WaitGroup // the settle goroutine, while it runs
	// closing is set (under mu) when Close begins; makers counts the
	// LinkExecutables calls that may still make variants.
	closing bool
	makers  sync.WaitGroup
	// lock holds the flock on Root/cas/LOCK: one process per store.
	lock *os.File
	// opened is set once Open succeeded; only then may Close vouch for
	// the variants (variantsCleanMarker).
	opened bool

	// installMu serialises the installs of blobs whose keys share a first
	// byte, so a rename need not hold mu (see install).
	installMu [256]sync.Mutex

	// blobShards and execShards record which shard directories exist, so
	// that Open need not create all 512 and writes need not stat them.
	blobShards [256]atomic.Bool
	execShards [256]atomic.Bool
}

const (
	blobMode = 0o444
	execMode = 0o555
	// tempPrefix names every temp file, so Open can tell them apart.
	tempPrefix = "w-"
)

// DefaultMaxBytes is the limit used when Options.MaxBytes is 0: half of the
// space the store could grow into, that is half of (free space on the
// filesystem holding root + bytes the store already uses there). It walks
// Root/cas to count those bytes; Open computes the same figure from its own
// scan instead.
func DefaultMaxBytes(root string) int64 {
	var used int64
	_ = filepath.WalkDir(filepath.Join(root, "cas"), func(_ string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			if fi, err := de.Info(); err == nil {
				used += fi.Size()
			}
		}
		return nil
	})
	return defaultMaxBytes(root, used)
}

func defaultMaxBytes(root string, used int64) int64 {
	// root may not exist yet: ask about its nearest existing ancestor.
	p := root
	for {
		avail, err := availableBytes(p)
		if err == nil {
			return (avail + used) / 2
		}
		parent := filepath.Dir(p)
		if parent == p {
			return used // nothing to measure: do not grow
		}
		p = parent
	}
}

// Open opens (creating if needed) the store under opts.Root/cas: it removes
// temp files left by a crash, indexes the blobs on disk, makes sure the
// empty blob exists and evicts down to the limit if the disk holds more.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Root == "" {
		return nil, rpcstatus.Newf(codes.InvalidArgument, "cas: root directory is not set")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base := filepath.Join(opts.Root, "cas")
	s := &Store{
		base:    base,
		blobDir: filepath.Join(base, "sha256"),
		execDir: filepath.Join(base, "sha256x"),
		tmpDir:  filepath.Join(base, "tmp"),
		logger:  logger,
		uid:     os.Getuid(),
		gid:     os.Getgid(),
		index:   make(map[key]*entry),
	}
	s.lru.init()
	s.syncer = newGroupSyncer(s.flush)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, rpcstatus.Wrapf(err, "cas: creating %s", base)
	}
	lockPath := filepath.Join(base, "LOCK")
	lock, err := lockRoot(lockPath)
	if err != nil {
		return nil, rpcstatus.Newf(codes.FailedPrecondition, "cas: %s is in use by another process (flock on %s: %v); give each daemon its own --root", base, lockPath, err)
	}
	s.lock = lock
	if err := os.RemoveAll(s.tmpDir); err != nil {
		s.Close()
		return nil, rpcstatus.Wrapf(err, "cas: removing leftover temp files")
	}
	for _, dir := range []string{s.blobDir, s.execDir, s.tmpDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, rpcstatus.Wrapf(err, "cas: creating store directories")
		}
	}
	if s.baseDir, err = os.Open(base); err != nil {
		s.Close()
		return nil, rpcstatus.Wrapf(err, "cas: opening the store directory")
	}
	fsType, ordered := filesystemOrdersData(base)
	s.strict = opts.StrictFsync || strictFsyncRequired || !ordered
	if s.strict && !opts.StrictFsync && !strictFsyncRequired {
		logger.LogAttrs(ctx, slog.LevelWarn, "cas: filesystem not known to write file data before file sizes; fsyncing every blob",
			slog.String("root", base), slog.String("filesystem", fsType))
	}
	start := time.Now()
	if err := s.dropUntrustedVariants(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.scan(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.ensureEmpty(); err != nil {
		s.Close()
		return nil, err
	}
	// Blobs left by an earlier process may not have reached the disk yet
	// (it may have died between a rename and its flush); they are on offer
	// from now on, so make them durable first. The empty blob, if it was
	// just made, is confirmed by the same flush.
	if err := s.syncer.sync(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.mu.Lock()
	s.index[emptyKey()].dur = nil
	s.mu.Unlock()
	s.max = opts.MaxBytes
	if s.max <= 0 {
		s.max = defaultMaxBytes(opts.Root, s.bytes)
	}
	s.chunk = reserveChunk(s.max)
	s.mu.Lock()
	for s.bytes > s.max {
		e := s.lru.back()
		if e == nil {
			break
		}
		s.evictLocked(e)
	}
	s.mu.Unlock()
	logger.LogAttrs(ctx, slog.LevelInfo, "cas opened",
		slog.String("root", base), slog.String("filesystem", fsType), slog.Bool("strict_fsync", s.strict),
		slog.Int("blobs", len(s.index)),
		slog.Int64("bytes", s.bytes), slog.Int64("max_bytes", s.max),
		slog.Int64("evictions", s.evictions), slog.Duration("scan_duration", time.Since(start)))
	s.opened = true
	return s, nil
}

type scanned struct {
	e    *entry
	used time.Time
}

// scan indexes the blobs on disk. Anything that is not a regular file with a
// well-formed name in the right shard is removed, as is an executable variant
// without a matching blob.
func (s *Store) scan(ctx context.Context) error {
	var found []scanned
	err := s.scanShards(ctx, s.blobDir, &s.blobShards, func(dir, shard string, de fs.DirEntry) bool {
		k, ok := keyOf(digest.Digest{Hash: de.Name()})
		if !ok || de.Name()[:2] != shard || !de.Type().IsRegular() {
			return false
		}
		fi, err := de.Info()
		if err != nil {
			return false
		}
		found = append(found, scanned{&entry{key: k, size: fi.Size()}, accessTime(fi)})
		return true
	})
	if err != nil {
		return err
	}
	sort.Slice(found, func(i, j int) bool { return found[i].used.After(found[j].used) })
	for _, f := range found {
		s.index[f.e.key] = f.e
		s.lru.pushBack(f.e)
		s.bytes += f.e.size
	}
	return s.scanShards(ctx, s.execDir, &s.execShards, func(dir, shard string, de fs.DirEntry) bool {
		k, ok := keyOf(digest.Digest{Hash: de.Name()})
		e := s.index[k]
		if !ok || e == nil || e.hasExec || !de.Type().IsRegular() {
			return false
		}
		if fi, err := de.Info(); err != nil || fi.Size() != e.size {
			return false
		}
		e.hasExec = true
		s.bytes += e.size
		return true
	})
}

// scanShards calls keep for every file in the shard directories of dir,
// removing what keep rejects and anything that is not a shard directory.
func (s *Store) scanShards(ctx context.Context, dir string, created *[256]atomic.Bool, keep func(dir, shard string, de fs.DirEntry) bool) error {
	shards, err := os.ReadDir(dir)
	if err != nil {
		return rpcstatus.Wrapf(err, "cas: scanning %s", dir)
	}
	for _, sh := range shards {
		if err := ctx.Err(); err != nil {
			return rpcstatus.Wrapf(err, "cas: scanning %s", dir)
		}
		b, err := hex.DecodeString(sh.Name())
		if err != nil || len(b) != 1 || !sh.IsDir() || hex.EncodeToString(b) != sh.Name() {
			s.removeStray(ctx, filepath.Join(dir, sh.Name()))
			continue
		}
		created[b[0]].Store(true)
		sub := filepath.Join(dir, sh.Name())
		des, err := os.ReadDir(sub)
		if err != nil {
			return rpcstatus.Wrapf(err, "cas: scanning %s", sub)
		}
		for _, de := range des {
			if !keep(sub, sh.Name(), de) {
				s.removeStray(ctx, filepath.Join(sub, de.Name()))
			}
		}
	}
	return nil
}

// ensureShard creates the shard directory that will hold path, once.
func ensureShard(created *[256]atomic.Bool, hash, path string) error {
	b, err := hex.DecodeString(hash[:2])
	if err != nil {
		return err
	}
	if created[b[0]].Load() {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	created[b[0]].Store(true)
	return nil
}

func (s *Store) removeStray(ctx context.Context, path string) {
	err := os.RemoveAll(path)
	s.logger.LogAttrs(ctx, slog.LevelWarn, "cas: removed stray file", slog.String("path", path), slog.Any("error", err))
}

func emptyKey() key {
	k, _ := keyOf(digest.Empty)
	return k
}

// ensureEmpty makes sure the empty blob is in place and pins it forever. If
// it has to be created, it is left pending for Open's flush.
func (s *Store) ensureEmpty() error {
	k := emptyKey()
	if e := s.index[k]; e == nil || e.size != 0 {
		if e != nil {
			s.mu.Lock()
			s.dropLocked(e, false)
			s.mu.Unlock()
		}
		f, err := s.createTemp()
		if err != nil {
			return err
		}
		if err := s.finishTemp(f, blobMode); err != nil {
			return err
		}
		if _, err := s.install(f.Name(), digest.Empty, k, s.syncer.failureEpoch()); err != nil {
			_ = os.Remove(f.Name())
			return err
		}
	}
	s.mu.Lock()
	s.pinLocked(s.index[k])
	s.mu.Unlock()
	return nil
}

// Path returns the file holding the blob d. The caller must hold a pin (Pin,
// Get) on d for as long as it uses the path, for instance to hard-link it.
func (s *Store) Path(d digest.Digest) string {
	if len(d.Hash) < 2 {
		return filepath.Join(s.blobDir, "invalid", d.Hash)
	}
	return filepath.Join(s.blobDir, d.Hash[:2], d.Hash)
}

func (s *Store) execPath(d digest.Digest) string {
	return filepath.Join(s.execDir, d.Hash[:2], d.Hash)
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Blobs: int64(len(s.index)), Bytes: s.bytes, MaxBytes: s.max, Evictions: s.evictions, Reserved: s.reserved,
		Syncs: s.syncer.syncs.Load(), SyncFailures: s.syncer.failures.Load(),
	}
}

// Close releases the store. It first waits for the background check of
// new executable variants (which drops one whose flush failed); after that
// nothing is deleted. Blobs and Writers still open keep working on their
// files (a commit after Close flushes through a descriptor of its own).
func (s *Store) Close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.makers.Wait()
	s.settlers.Wait()
	var markErr error
	if s.strict && s.opened {
		markErr = s.markVariantsClean()
	}
	s.baseMu.Lock()
	defer s.baseMu.Unlock()
	var err error
	if s.baseDir != nil {
		err = s.baseDir.Close()
		s.baseDir = nil
	}
	if s.lock != nil {
		_ = s.lock.Close() // releases the flock
		s.lock = nil
	}
	if err == nil {
		err = markErr
	}
	return err
}

// variantsCleanMarker, in the store's directory, says that the executable
// variants on disk were all flushed when the last process closed the store.
// Only strict mode uses it: there a variant is not fdatasynced (it is a copy
// of a durable blob, and a flush per input file made cold input trees slow),
// so after a crash, on a filesystem that does not order data before sizes,
// a variant could hold garbage within its size; without the marker Open
// removes them all.
const variantsCleanMarker = "variants-clean"

// dropUntrustedVariants, in strict mode, removes the executable variants
// unless the last Close marked them clean. The marker goes either way (also
// outside strict mode, where it means nothing), so that a crash from now on
// leaves none; Open's flush makes that removal durable before any new
// variant is made.
func (s *Store) dropUntrustedVariants() error {
	marker := filepath.Join(s.base, variantsCleanMarker)
	err := os.Remove(marker)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rpcstatus.Wrapf(err, "cas: removing %s", marker)
	}
	if !s.strict || err == nil { // nothing to distrust, or marked clean
		return nil
	}
	if err := os.RemoveAll(s.execDir); err != nil {
		return rpcstatus.Wrapf(err, "cas: removing executable variants not known to be on disk")
	}
	if err := os.MkdirAll(s.execDir, 0o755); err != nil {
		return rpcstatus.Wrapf(err, "cas: creating store directories")
	}
	return nil
}

// markVariantsClean flushes the filesystem, so that every variant is on
// disk, then writes variantsCleanMarker and flushes again.
func (s *Store) markVariantsClean() error {
	if err := s.flush(); err != nil {
		return rpcstatus.Wrapf(err, "cas: flushing executable variants")
	}
	marker := filepath.Join(s.base, variantsCleanMarker)
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return rpcstatus.Wrapf(err, "cas: writing %s", marker)
	}
	if err := s.flush(); err != nil {
		_ = os.Remove(marker)
		return rpcstatus.Wrapf(err, "cas: flushing %s", marker)
	}
	return nil
}

// flush is the groupSyncer's flush: syncfs on the store's directory, which
// is on the filesystem of every blob and temp file.
func (s *Store) flush() error {
	s.baseMu.RLock()
	defer s.baseMu.RUnlock()
	dir := s.baseDir
	if dir == nil {
		var err error
		if dir, err = os.Open(s.base); err != nil {
			return err
		}
		defer dir.Close()
	}
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syncFilesystem(int(fd)) }); err != nil {
		return err
	}
	return serr
}

// lookupLocked returns the entry for d if the store holds a blob with d's
// hash and size.
func (s *Store) lookupLocked(d digest.Digest) (*entry, bool) {
	k, ok := keyOf(d)
	if !ok {
		return nil, false
	}
	e := s.index[k]
	if e == nil || e.size != d.Size {
		return nil, false
	}
	return e, true
}

func (s *Store) touchLocked(e *entry) {
	if e.pins == 0 {
		s.lru.moveToFront(e)
	}
}

func (s *Store) pinLocked(e *entry) {
	if e.pins == 0 {
		s.lru.remove(e)
	}
	e.pins++
}

func (s *Store) unpin(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.pins--
	if e.pins == 0 && s.index[e.key] == e {
		s.lru.pushFront(e)
	}
}

// unpinFunc returns a function that drops one pin on e, once.
func (s *Store) unpinFunc(e *entry) func() {
	var once sync.Once
	return func() { once.Do(func() { s.unpin(e) }) }
}

// dropLocked removes e from the index, and its files if remove is set.
func (s *Store) dropLocked(e *entry, remove bool) {
	if s.index[e.key] != e {
		return
	}
	delete(s.index, e.key)
	s.lru.remove(e)
	s.bytes -= e.bytes()
	if remove {
		d := digest.Digest{Hash: hex.EncodeToString(e.key[:]), Size: e.size}
		_ = os.Remove(s.Path(d))
		if e.hasExec {
			_ = os.Remove(s.execPath(d))
		}
	}
}

// evictLocked removes an unpinned blob to make room. Files are unlinked under
// the lock so that a concurrent writer of the same blob cannot have its fresh
// file unlinked by a stale eviction.
func (s *Store) evictLocked(e *entry) {
	s.dropLocked(e, true)
	s.evictions++
	s.logger.LogAttrs(context.Background(), slog.LevelDebug, "cas: evicted blob",
		slog.String("digest", hex.EncodeToString(e.key[:])), slog.Int64("size", e.size))
}

// reserveLocked promises n bytes to a write, evicting least recently used
// unpinned blobs as needed.
func (s *Store) reserveLocked(d digest.Digest, n int64) error {
	if n > s.max {
		return rpcstatus.Newf(codes.ResourceExhausted, "blob %s: %d bytes exceed the store's limit of %d bytes", d, n, s.max)
	}
	for s.bytes+s.reserved+n > s.max {
		e := s.lru.back()
		if e == nil {
			return rpcstatus.Newf(codes.ResourceExhausted,
				"blob %s: store is full: %d bytes stored and %d reserved by in-flight writes, limit %d bytes, and every stored blob is in use",
				d, s.bytes, s.reserved, s.max)
		}
		s.evictLocked(e)
	}
	s.reserved += n
	return nil
}

// reserve is reserveLocked taking s.mu.
func (s *Store) reserve(d digest.Digest, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserveLocked(d, n)
}

func (s *Store) unreserve(n int64) {
	s.mu.Lock()
	s.reserved -= n
	s.mu.Unlock()
}

// install renames the verified file src into place as blob d. It does not
// flush: the caller acknowledges the write only after awaitBlob on the
// returned entry. epoch is the groupSyncer.failureEpoch the caller sampled
// before writing src's bytes. The caller must have reserved d.Size bytes; on
// success (including when the blob already exists, in which case src is
// removed and the existing entry returned) the reservation is used up, on
// error it is left to the caller.
//
// Renaming before the flush cannot expose a torn blob after a crash: a
// crash may lose the rename (the blob is then simply missing) or keep it
// with the file's bytes only partly on disk. On ext4 in its default
// data=ordered mode the on-disk size (i_disksize) is only raised in the
// journal transaction that commits after the data blocks it covers were
// written, and xfs and btrfs likewise raise it only at I/O completion; so
// such a file comes back empty or short, never with stale blocks inside its
// size. Open indexes it with its short size, which no digest (whose size
// is part of it) matches, and Get checks the file's size against the
// digest at every open and drops a mismatch as damaged: the size checks are
// what makes this order safe, which is why they stay. Filesystems without
// that ordering get Options.StrictFsync (Open forces it), which writes the
// bytes to disk before the rename.
//
// The rename runs outside mu, which concurrent writers would otherwise
// queue on, under the key's installMu instead: only install adds a blob to
// the index, so while it holds installMu nothing can index this key, and
// so nothing (eviction, a drop) can unlink the path between the check and
// the rename.
func (s *Store) install(src string, d digest.Digest, k key, epoch int64) (*entry, error) {
	l := &s.installMu[k[0]]
	l.Lock()
	defer l.Unlock()
	s.mu.Lock()
	if e := s.index[k]; e != nil {
		if e.size == d.Size {
			s.reserved -= d.Size
			s.touchLocked(e)
			s.mu.Unlock()
			_ = os.Remove(src)
			return e, nil
		}
		// The indexed file has the wrong size for its hash: it is corrupt
		// (found so at Open); the verified bytes replace it.
		s.dropLocked(e, false)
	}
	s.mu.Unlock()
	if err := ensureShard(&s.blobShards, d.Hash, s.Path(d)); err != nil {
		return nil, err
	}
	if err := os.Rename(src, s.Path(d)); err != nil {
		return nil, err
	}
	e := &entry{key: k, size: d.Size, dur: &durability{epoch: epoch, pending: true}}
	s.mu.Lock()
	s.index[k] = e
	s.lru.pushFront(e)
	s.reserved -= d.Size
	s.bytes += d.Size
	s.mu.Unlock()
	return e, nil
}

// awaitBlob returns once blob e's file is known to be on disk, waiting for
// a shared filesystem flush if it is not yet. Every path that acknowledges
// a blob as stored goes through here, those that found it already stored
// included: the writer that renamed it in may still be waiting for its
// flush. If the flush fails, the blob is removed (see awaitDurable).
func (s *Store) awaitBlob(ctx context.Context, e *entry) error {
	s.mu.Lock()
	dur := e.dur
	s.mu.Unlock()
	return s.awaitDurable(ctx, dur, func() {
		if s.index[e.key] == e {
			s.dropLocked(e, true)
			s.logger.LogAttrs(ctx, slog.LevelError, "cas: removed a blob whose flush to disk failed",
				slog.String("digest", hex.EncodeToString(e.key[:])), slog.Int64("size", e.size))
		}
	})
}

// awaitDurable waits for a flush that began after the call (and so after
// the file was renamed in) and confirms the file dur belongs to: it is on
// disk if that flush succeeded and no flush failed since the file's bytes
// were written (dur.epoch). Otherwise the file may have lost its bytes: a
// failed writeback leaves correct bytes in the page cache only until they
// are evicted, and the disk with whatever it holds. Such a file, visible
// but never acknowledged, is not kept: drop (called under s.mu) removes
// it, and everybody waiting on it gets the error (INTERNAL), so a client
// uploads it again. Only a caller that gave up (ctx) leaves the verdict to
// the next one. A nil dur means durable.
func (s *Store) awaitDurable(ctx context.Context, dur *durability, drop func()) error {
	return s.awaitDurableAll(ctx, []*durability{dur}, []func(){drop})
}

// awaitDurableAll is awaitDurable for several files with one flush for all
// of them; drops[i] removes the file of durs[i]. It returns the first error.
func (s *Store) awaitDurableAll(ctx context.Context, durs []*durability, drops []func()) error {
	s.mu.Lock()
	pending := false
	for _, dur := range durs {
		pending = pending || dur != nil && dur.pending
	}
	s.mu.Unlock()
	var syncErr error
	if pending {
		syncErr = s.syncer.sync(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for i, dur := range durs {
		if dur == nil {
			continue
		}
		if err := s.verdictLocked(ctx, dur, syncErr, drops[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// verdictLocked settles dur after a flush that ended with err.
func (s *Store) verdictLocked(ctx context.Context, dur *durability, err error, drop func()) error {
	switch {
	case !dur.pending: // another waiter's flush gave the verdict
		return dur.err
	case err == nil && s.syncer.failureEpoch() == dur.epoch:
		dur.pending = false
		return nil
	case err == nil:
		err = rpcstatus.Newf(codes.Internal, "cas: a filesystem flush failed while the blob was being written, so it may not be on disk")
	case ctx.Err() != nil:
		return err
	}
	dur.pending = false
	dur.err = err
	drop()
	return err
}

func (s *Store) createTemp() (*os.File, error) {
	f, err := os.CreateTemp(s.tmpDir, tempPrefix+"*")
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "cas: creating temp file")
	}
	return f, nil
}

// finishTemp sets a complete temp file's mode and closes it, writing its
// bytes to disk first in strict mode. On error the file is removed.
func (s *Store) finishTemp(f *os.File, mode os.FileMode) error {
	return s.finishTempSync(f, mode, s.strict)
}

func (s *Store) finishTempSync(f *os.File, mode os.FileMode, sync bool) error {
	err := f.Chmod(mode)
	if err == nil && sync {
		err = datasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return rpcstatus.Wrapf(err, "cas: finishing temp file")
	}
	return nil
}

// Contains reports whether the store holds d (hash and size). It counts as a
// use of d for eviction.
func (s *Store) Contains(ctx context.Context, d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lookupLocked(d)
	if ok {
		s.touchLocked(e)
	}
	return ok
}

// FindMissing returns the digests in ds that the store does not hold, in
// their order in ds and without duplicates. Present digests count as used.
// Malformed digests are reported missing.
func (s *Store) FindMissing(ctx context.Context, ds []digest.Digest) []digest.Digest {
	keys := make([]key, len(ds))
	valid := make([]bool, len(ds))
	for i, d := range ds {
		keys[i], valid[i] = keyOf(d)
	}
	var missing []int
	s.mu.Lock()
	for i, d := range ds {
		if valid[i] {
			if e := s.index[keys[i]]; e != nil && e.size == d.Size {
				s.touchLocked(e)
				continue
			}
		}
		missing = append(missing, i)
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	out := make([]digest.Digest, 0, len(missing))
	seen := make(map[digest.Digest]bool, len(missing))
	for _, i := range missing {
		if !seen[ds[i]] {
			seen[ds[i]] = true
			out = append(out, ds[i])
		}
	}
	return out
}

// pinDigest pins d or returns NOT_FOUND.
func (s *Store) pinDigest(d digest.Digest) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lookupLocked(d)
	if !ok {
		return nil, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
	}
	s.pinLocked(e)
	return e, nil
}

// Pin keeps d from eviction until unpin is called (unpin is idempotent).
// It returns NOT_FOUND if the store does not hold d.
func (s *Store) Pin(ctx context.Context, d digest.Digest) (unpin func(), err error) {
	e, err := s.pinDigest(d)
	if err != nil {
		return nil, err
	}
	return s.unpinFunc(e), nil
}

// Get opens blob d for reading. The Blob pins d until it is closed. A blob
// whose file is gone or has the wrong size is dropped and reported
// NOT_FOUND.
func (s *Store) Get(ctx context.Context, d digest.Digest) (*Blob, error) {
	e, err := s.pinDigest(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(s.Path(d))
	if err != nil {
		s.unpin(e)
		if errors.Is(err, fs.ErrNotExist) {
			s.forget(ctx, e, d, "file is gone")
			return nil, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
		}
		return nil, rpcstatus.Wrapf(err, "blob %s: opening", d)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		s.unpin(e)
		return nil, rpcstatus.Wrapf(err, "blob %s: stat", d)
	}
	if fi.Size() != d.Size {
		_ = f.Close()
		s.unpin(e)
		s.forget(ctx, e, d, "file has the wrong size")
		return nil, rpcstatus.Newf(codes.NotFound, "blob %s not found (stored file had %d bytes)", d, fi.Size())
	}
	return &Blob{f: f, size: d.Size, unpin: s.unpinFunc(e)}, nil
}

// forget drops a blob found damaged on disk.
func (s *Store) forget(ctx context.Context, e *entry, d digest.Digest, why string) {
	s.mu.Lock()
	s.dropLocked(e, true)
	s.mu.Unlock()
	s.logger.LogAttrs(ctx, slog.LevelWarn, "cas: dropped damaged blob", slog.String("digest", d.String()), slog.String("reason", why))
}

// ReadAll returns the bytes of blob d. It fails with RESOURCE_EXHAUSTED if
// d.Size exceeds limit and NOT_FOUND if the store does not hold d.
func (s *Store) ReadAll(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, rpcstatus.Newf(codes.ResourceExhausted, "blob %s: %d bytes exceed the limit of %d bytes for reading into memory", d, d.Size, limit)
	}
	b, err := s.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	buf := make([]byte, d.Size)
	if _, err := io.ReadFull(b, buf); err != nil {
		return nil, rpcstatus.Wrapf(err, "blob %s: reading", d)
	}
	return buf, nil
}

// Put stores data as blob d. It fails with INVALID_ARGUMENT, storing
// nothing, if data does not hash to d. Storing a blob that exists succeeds.
func (s *Store) Put(ctx context.Context, d digest.Digest, data []byte) error {
	k, err := validKey(d)
	if err != nil {
		return err
	}
	if got := digest.OfBytes(data); got != d {
		return rpcstatus.Newf(codes.InvalidArgument, "data hashes to %s, want %s", got, d)
	}
	s.mu.Lock()
	if e, ok := s.lookupLocked(d); ok {
		s.touchLocked(e)
		s.mu.Unlock()
		return rpcstatus.Wrapf(s.awaitBlob(ctx, e), "blob %s", d)
	}
	err = s.reserveLocked(d, d.Size)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	e, err := s.putTemp(d, k, func(f *os.File) error { _, err := f.Write(data); return err })
	if err != nil {
		s.unreserve(d.Size)
		return rpcstatus.Wrapf(err, "blob %s", d)
	}
	return rpcstatus.Wrapf(s.awaitBlob(ctx, e), "blob %s", d)
}

// putTemp writes a temp file with fill, finishes and installs it. The caller
// has reserved d.Size bytes and releases them on error, and awaits the
// returned entry.
func (s *Store) putTemp(d digest.Digest, k key, fill func(*os.File) error) (*entry, error) {
	epoch := s.syncer.failureEpoch()
	f, err := s.createTemp()
	if err != nil {
		return nil, err
	}
	if err := fill(f); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	if err := s.finishTemp(f, blobMode); err != nil {
		return nil, err
	}
	e, err := s.install(f.Name(), d, k, epoch)
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, err
	}
	return e, nil
}

func validKey(d digest.Digest) (key, error) {
	if _, err := digest.New(d.Hash, d.Size); err != nil {
		return key{}, err
	}
	k, _ := keyOf(d)
	return k, nil
}

// PutFile hashes the regular file at path and stores it, returning its
// digest. With move set the file is consumed: it is renamed into the store
// when it is on the same filesystem, has no other hard links and can be
// given to the daemon's user (so a sandboxed process that owned it cannot
// later chmod and alter the blob); otherwise it is copied and removed.
// Either way, after a successful PutFile with move the file is gone from
// path. Without move the file is copied and left alone.
//
// The file must not change while PutFile runs (the executor collects
// outputs after the action's processes are gone); a change noticed during
// the call fails with ABORTED.
func (s *Store) PutFile(ctx context.Context, path string, move bool) (digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return digest.Digest{}, rpcstatus.Newf(codes.NotFound, "storing %s: file does not exist", path)
		}
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	if !fi.Mode().IsRegular() {
		return digest.Digest{}, rpcstatus.Newf(codes.InvalidArgument, "storing %s: not a regular file (mode %v)", path, fi.Mode())
	}
	if move && linkCount(fi) == 1 {
		d, done, err := s.moveFile(ctx, f, fi, path)
		if err != nil || done {
			return d, err
		}
		// Fall back to copying (another filesystem, or not ours to own).
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
		}
	}
	d, err := s.copyFile(ctx, f, fi, path)
	if err != nil {
		return digest.Digest{}, err
	}
	if move {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s: removing the moved file", path)
		}
	}
	return d, nil
}

// hashFile hashes f from its current offset to the end.
func hashFile(ctx context.Context, f *os.File) (digest.Digest, error) {
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return digest.Digest{}, err
	}
	return digest.Digest{Hash: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// ctxReader stops a long read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func changed(a, b fs.FileInfo) bool {
	return a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime())
}

// moveFile tries to rename f into the store. done is false when the caller
// should copy instead.
func (s *Store) moveFile(ctx context.Context, f *os.File, fi fs.FileInfo, path string) (d digest.Digest, done bool, err error) {
	// The file's bytes were written before this call, so a writeback
	// failure of them may already have been reported to an earlier flush
	// and go unnoticed here; strict mode's fdatasync does catch it (the
	// per-file error is kept until a descriptor of the file sees it).
	epoch := s.syncer.failureEpoch()
	d, err = hashFile(ctx, f)
	if err != nil {
		return d, true, rpcstatus.Wrapf(err, "storing %s: hashing", path)
	}
	if fi2, err := f.Stat(); err != nil || changed(fi, fi2) || d.Size != fi.Size() {
		return d, true, rpcstatus.Newf(codes.Aborted, "storing %s: file changed while it was being stored", path)
	}
	k, _ := keyOf(d)
	s.mu.Lock()
	if e, ok := s.lookupLocked(d); ok {
		s.touchLocked(e)
		s.mu.Unlock()
		if err := os.Remove(path); err != nil {
			return d, true, rpcstatus.Wrapf(err, "storing %s: removing the moved file", path)
		}
		return d, true, rpcstatus.Wrapf(s.awaitBlob(ctx, e), "storing %s", path)
	}
	err = s.reserveLocked(d, d.Size)
	s.mu.Unlock()
	if err != nil {
		return d, true, rpcstatus.Wrapf(err, "storing %s", path)
	}
	if uid, gid := owner(fi); uid != s.uid || gid != s.gid {
		if err := f.Chown(s.uid, s.gid); err != nil {
			s.unreserve(d.Size)
			return d, false, nil
		}
	}
	if err := f.Chmod(blobMode); err != nil {
		s.unreserve(d.Size)
		return d, false, nil
	}
	if s.strict {
		if err := datasync(f); err != nil {
			s.unreserve(d.Size)
			return d, true, rpcstatus.Wrapf(err, "storing %s: fdatasync", path)
		}
	}
	e, err := s.install(path, d, k, epoch)
	if err != nil {
		s.unreserve(d.Size)
		if errors.Is(err, syscall.EXDEV) {
			return d, false, nil
		}
		return d, true, rpcstatus.Wrapf(err, "storing %s", path)
	}
	return d, true, rpcstatus.Wrapf(s.awaitBlob(ctx, e), "storing %s", path)
}

// copyFile copies f into a temp file (copy_file_range where the kernel can)
// and stores that, hashing the copy so the stored bytes are the hashed ones.
func (s *Store) copyFile(ctx context.Context, f *os.File, fi fs.FileInfo, path string) (digest.Digest, error) {
	epoch := s.syncer.failureEpoch()
	t, err := s.createTemp()
	if err != nil {
		return digest.Digest{}, err
	}
	fail := func(err error) (digest.Digest, error) {
		_ = t.Close()
		_ = os.Remove(t.Name())
		return digest.Digest{}, err
	}
	if err := ctx.Err(); err != nil {
		return fail(rpcstatus.Wrapf(err, "storing %s", path))
	}
	n, err := io.Copy(t, f)
	if err != nil {
		return fail(rpcstatus.Wrapf(err, "storing %s: copying", path))
	}
	if fi2, err := f.Stat(); err != nil || changed(fi, fi2) || n != fi.Size() {
		return fail(rpcstatus.Newf(codes.Aborted, "storing %s: file changed while it was being stored", path))
	}
	if _, err := t.Seek(0, io.SeekStart); err != nil {
		return fail(rpcstatus.Wrapf(err, "storing %s", path))
	}
	d, err := hashFile(ctx, t)
	if err != nil {
		return fail(rpcstatus.Wrapf(err, "storing %s: hashing", path))
	}
	k, _ := keyOf(d)
	s.mu.Lock()
	if e, ok := s.lookupLocked(d); ok {
		s.touchLocked(e)
		s.mu.Unlock()
		_ = t.Close()
		_ = os.Remove(t.Name())
		return d, rpcstatus.Wrapf(s.awaitBlob(ctx, e), "storing %s", path)
	}
	err = s.reserveLocked(d, d.Size)
	s.mu.Unlock()
	if err != nil {
		return fail(rpcstatus.Wrapf(err, "storing %s", path))
	}
	if err := s.finishTemp(t, blobMode); err != nil {
		s.unreserve(d.Size)
		return digest.Digest{}, err
	}
	e, err := s.install(t.Name(), d, k, epoch)
	if err != nil {
		s.unreserve(d.Size)
		_ = os.Remove(t.Name())
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	if err := s.awaitBlob(ctx, e); err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "storing %s", path)
	}
	return d, nil
}

// LinkExecutable returns the path of an executable (mode 0555) copy of blob
// d, for inputs with is_executable set: blobs are stored 0444, and since a
// hard link shares its mode, the executor links executable inputs to this
// variant instead. The variant lives at Root/cas/sha256x/<2hex>/<64hex>, is
// made on first use (a reflink where the filesystem supports it, else a
// copy), counts against MaxBytes like a blob and is evicted with d. d stays
// pinned until unpin is called. NOT_FOUND if the store does not hold d.
func (s *Store) LinkExecutable(ctx context.Context, d digest.Digest) (path string, unpin func(), err error) {
	paths, unpins, err := s.LinkExecutables(ctx, []digest.Digest{d})
	if err != nil {
		return "", nil, err
	}
	if paths[0] == "" {
		return "", nil, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
	}
	return paths[0], unpins[0], nil
}

// LinkExecutables is LinkExecutable for many blobs. For a blob the store
// does not hold, paths[i] is "" and unpins[i] nil. On error nothing stays
// pinned.
//
// Unlike a blob, a new variant is returned before it is flushed to disk:
// it is a copy of a blob the store holds, so nothing a client sent is at
// stake, and waiting would cost a filesystem flush per input tree (Bazel
// marks every input executable, so a cold tree makes a variant per file),
// with everything other processes wrote to the filesystem in that flush.
// After a crash the store drops variants it cannot trust when it opens
// (short ones; in strict mode all, see variantsCleanMarker); a variant
// whose flush fails is dropped then (see settle), while actions already
// running keep the page cache's correct bytes.
func (s *Store) LinkExecutables(ctx context.Context, ds []digest.Digest) (paths []string, unpins []func(), err error) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, nil, rpcstatus.Newf(codes.Unavailable, "cas: the store is closing")
	}
	s.makers.Add(1)
	s.mu.Unlock()
	defer s.makers.Done()
	unpins = make([]func(), len(ds))
	fail := func(err error) ([]string, []func(), error) {
		for _, u := range unpins {
			if u != nil {
				u()
			}
		}
		return nil, nil, err
	}
	for i, d := range ds {
		if err := ctx.Err(); err != nil {
			return fail(rpcstatus.FromContext(ctx))
		}
		e, err := s.pinDigest(d)
		if rpcstatus.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return fail(err)
		}
		unpins[i] = s.unpinFunc(e)
		s.mu.Lock()
		exists := e.hasExec
		if !exists {
			err = s.reserveLocked(d, d.Size)
		}
		s.mu.Unlock()
		if err != nil {
			return fail(err)
		}
		if exists {
			continue
		}
		dur, made, err := s.makeExec(d, e)
		if err != nil {
			s.unreserve(d.Size)
			if rpcstatus.Code(err) == codes.NotFound {
				// Its file is gone (or it was dropped as damaged meanwhile):
				// missing, like an absent blob, and out of the index, so
				// that the client's upload of it is stored again.
				unpins[i]()
				unpins[i] = nil
				s.forget(ctx, e, d, "file is gone")
				continue
			}
			return fail(rpcstatus.Wrapf(err, "blob %s: making executable copy", d))
		}
		if made {
			s.settleLater(e, dur)
		}
	}
	paths = make([]string, len(ds))
	for i, d := range ds {
		if unpins[i] != nil {
			paths[i] = s.execPath(d)
		}
	}
	return paths, unpins, nil
}

// FlushFailures counts the filesystem flushes that failed since the store
// opened. Files written before a failure may have lost their bytes: blobs
// are then dropped and their writers told, and so are executable variants,
// which LinkExecutables hands out before their flush; a caller keeping
// links to variants should stop using those made before the count changed.
func (s *Store) FlushFailures() int64 { return s.syncer.failureEpoch() }

// settleLater queues e's new executable variant, whose durability state is
// dur, for settle, starting it unless it runs.
func (s *Store) settleLater(e *entry, dur *durability) {
	s.mu.Lock()
	s.unsettled = append(s.unsettled, unsettledExec{e, dur})
	start := !s.settling
	s.settling = true
	if start {
		s.settlers.Add(1)
	}
	s.mu.Unlock()
	if start {
		go s.settle()
	}
}

// settle waits, in the background, for flushes covering the queued
// executable variants and drops each whose flush failed, so that a failed
// writeback cannot leave one with lost bytes for later actions (trees that
// link one already watch FlushFailures). Like the group syncer it runs only
// while there is work; Close waits for it.
func (s *Store) settle() {
	defer s.settlers.Done()
	for {
		s.mu.Lock()
		batch := s.unsettled
		s.unsettled = nil
		if len(batch) == 0 {
			s.settling = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		durs := make([]*durability, len(batch))
		drops := make([]func(), len(batch))
		for i, u := range batch {
			durs[i], drops[i] = u.dur, s.dropExec(u.e, u.dur)
		}
		if err := s.awaitDurableAll(context.Background(), durs, drops); err != nil {
			s.logger.Error("cas: removed executable copies whose flush to disk failed", slog.Int("copies", len(batch)), slog.String("error", err.Error()))
		}
	}
}

// dropExec returns the drop function for awaitDurable of e's executable
// variant, whose durability state is dur.
func (s *Store) dropExec(e *entry, dur *durability) func() {
	return func() {
		if s.index[e.key] == e && e.hasExec && e.execDur == dur {
			d := digest.Digest{Hash: hex.EncodeToString(e.key[:]), Size: e.size}
			_ = os.Remove(s.execPath(d))
			e.hasExec = false
			e.execDur = nil
			s.bytes -= e.size
		}
	}
}

// makeExec creates the executable variant of the pinned entry e and returns
// its durability state, and whether this call made it (rather than a
// concurrent one). On success the reservation of d.Size bytes is used up.
func (s *Store) makeExec(d digest.Digest, e *entry) (dur *durability, made bool, err error) {
	epoch := s.syncer.failureEpoch()
	src, err := os.Open(s.Path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, rpcstatus.Newf(codes.NotFound, "blob %s not found (its file is gone)", d)
	}
	if err != nil {
		return nil, false, err
	}
	defer src.Close()
	t, err := s.createTemp()
	if err != nil {
		return nil, false, err
	}
	if err := cloneFile(t, src); err != nil {
		if _, err := io.Copy(t, src); err != nil {
			_ = t.Close()
			_ = os.Remove(t.Name())
			return nil, false, err
		}
	}
	if fi, err := t.Stat(); err != nil || fi.Size() != d.Size {
		_ = t.Close()
		_ = os.Remove(t.Name())
		return nil, false, rpcstatus.Newf(codes.Internal, "copy has the wrong size")
	}
	// Strict mode trusts variants across restarts only after a clean Close
	// (variantsCleanMarker), so they need no fdatasync of their own, unless
	// flushes cannot report a failed write.
	if err := s.finishTempSync(t, execMode, s.strict && !flushReportsWriteErrors); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.index[e.key] != e {
		// Dropped as damaged meanwhile.
		_ = os.Remove(t.Name())
		return nil, false, rpcstatus.Newf(codes.NotFound, "blob %s not found", d)
	}
	if e.hasExec {
		// Another caller made the variant first.
		s.reserved -= d.Size
		_ = os.Remove(t.Name())
		return e.execDur, false, nil
	}
	err = ensureShard(&s.execShards, d.Hash, s.execPath(d))
	if err == nil {
		err = os.Rename(t.Name(), s.execPath(d))
	}
	if err != nil {
		_ = os.Remove(t.Name())
		return nil, false, err
	}
	e.hasExec = true
	e.execDur = &durability{epoch: epoch, pending: true}
	s.reserved -= d.Size
	s.bytes += d.Size
	return e.execDur, true, nil
}
