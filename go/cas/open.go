package cas

import (
	"context"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/internal/privdir"
	"github.com/actiond/actiond/go/rpcstatus"
)

// DefaultMaxBytes is the limit used when Options.MaxBytes is 0: half of the
// space the store could grow into, that is half of (free space on the
// filesystem holding root + bytes the store already uses there). It walks
// Root/cas to count those bytes; Open computes the same figure from its own
// scan instead.
func DefaultMaxBytes(root string) int64 {
	var used int64
	base := filepath.Join(root, "cas")
	_ = filepath.WalkDir(base, func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.IsDir() && p == filepath.Join(base, "recent") {
			return filepath.SkipDir // hard links of blobs counted elsewhere
		}
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
		base:          base,
		blobDir:       filepath.Join(base, "sha256"),
		execDir:       filepath.Join(base, "sha256x"),
		tmpDir:        filepath.Join(base, "tmp"),
		recentDir:     filepath.Join(base, "recent"),
		flushInterval: opts.FlushInterval,
		kick:          make(chan struct{}, 1),
		logger:        logger,
		uid:           os.Getuid(),
		gid:           os.Getgid(),
		index:         make(map[key]*entry),
	}
	if s.flushInterval <= 0 {
		s.flushInterval = DefaultFlushInterval
	}
	s.lru.init()
	s.syncer = newGroupSyncer(s.flush)
	if fixed, err := privdir.Ensure(base); err != nil {
		return nil, rpcstatus.Newf(codes.FailedPrecondition, "cas: %v", err)
	} else if fixed {
		logger.LogAttrs(ctx, slog.LevelWarn, "cas: removed group and world write permission", slog.String("dir", base))
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
	for _, dir := range []string{s.blobDir, s.execDir, s.tmpDir, s.recentDir} {
		if fixed, err := privdir.Ensure(dir); err != nil {
			s.Close()
			return nil, rpcstatus.Newf(codes.FailedPrecondition, "cas: %v", err)
		} else if fixed {
			logger.LogAttrs(ctx, slog.LevelWarn, "cas: removed group and world write permission", slog.String("dir", dir))
		}
	}
	if s.baseDir, err = os.Open(base); err != nil {
		s.Close()
		return nil, rpcstatus.Wrapf(err, "cas: opening the store directory")
	}
	fsType, trusted := filesystemTrustsEpochs(base)
	s.epochs = opts.forceEpochs || trusted && !opts.StrictFsync && !strictFsyncRequired && flushReportsWriteErrors
	if !s.epochs && !opts.StrictFsync && !strictFsyncRequired {
		logger.LogAttrs(ctx, slog.LevelWarn, "cas: filesystem (or kernel) not trusted to order and report its flushes; flushing every blob before acknowledging it",
			slog.String("root", base), slog.String("filesystem", fsType), slog.Bool("flush_reports_write_errors", flushReportsWriteErrors))
	}
	start := time.Now()
	since, err := s.markOpened()
	if err != nil {
		s.Close()
		return nil, err
	}
	if err := s.dropUntrustedVariants(); err != nil {
		s.Close()
		return nil, err
	}
	var suspects []*entry
	suspects, err = s.scan(ctx, since)
	if err != nil {
		s.Close()
		return nil, err
	}
	rechecked, recheckDropped, err := s.recheckSuspects(ctx, suspects)
	if err != nil {
		s.Close()
		return nil, err
	}
	checked, dropped, err := s.checkRecent(ctx)
	if err != nil {
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
	// just made, is confirmed by the same flush; so are the removals of
	// blobs checkRecent found damaged, before their links go.
	if err := s.syncer.sync(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.clearRecent(); err != nil {
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
		slog.String("root", base), slog.String("filesystem", fsType), slog.Bool("epochs", s.epochs),
		slog.Duration("flush_interval", s.flushInterval),
		slog.Int("recent_blobs_checked", checked), slog.Int("recent_blobs_dropped", dropped),
		slog.Int("changed_blobs_checked", rechecked), slog.Int("changed_blobs_dropped", recheckDropped),
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
// without a matching blob. It returns the blobs that may have been changed
// while no store had them open: a ctime after since, or a mode or owner
// other than the store's. An executable variant so suspect is removed.
func (s *Store) scan(ctx context.Context, since time.Time) (suspects []*entry, err error) {
	suspect := func(fi fs.FileInfo, perm fs.FileMode) bool {
		uid, _ := owner(fi)
		return changeTime(fi).After(since) || fi.Mode().Perm() != perm || uid != s.uid
	}
	var found []scanned
	err = s.scanShards(ctx, s.blobDir, &s.blobShards, func(dir, shard string, de fs.DirEntry) bool {
		k, ok := keyOf(digest.Digest{Hash: de.Name()})
		if !ok || de.Name()[:2] != shard || !de.Type().IsRegular() {
			return false
		}
		fi, err := de.Info()
		if err != nil {
			return false
		}
		e := &entry{key: k, size: fi.Size(), stamp: stampOf(fi)}
		found = append(found, scanned{e, accessTime(fi)})
		if suspect(fi, blobMode) {
			e.stamp = stamp{} // matches no file: recheckSuspects hashes it
			suspects = append(suspects, e)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(found, func(i, j int) bool { return found[i].used.After(found[j].used) })
	for _, f := range found {
		s.index[f.e.key] = f.e
		s.lru.pushBack(f.e)
		s.bytes += f.e.size
	}
	return suspects, s.scanShards(ctx, s.execDir, &s.execShards, func(dir, shard string, de fs.DirEntry) bool {
		k, ok := keyOf(digest.Digest{Hash: de.Name()})
		e := s.index[k]
		if !ok || e == nil || e.hasExec || !de.Type().IsRegular() {
			return false
		}
		fi, err := de.Info()
		if err != nil || fi.Size() != e.size || suspect(fi, execMode) {
			return false
		}
		e.hasExec = true
		e.execStamp = stampOf(fi)
		s.bytes += e.size
		return true
	})
}

// openedMarker, in the store's directory, is rewritten by every Open: its
// mtime is when the last process began using the store.
const openedMarker = "opened"

// markOpened returns the time since which the files of the store may have
// been changed by someone else than a process using it: the last clean
// Close (variantsCleanMarker's mtime), else, after a crash, the last Open;
// the zero time when neither is known. It then marks this Open.
func (s *Store) markOpened() (since time.Time, err error) {
	if fi, err := os.Stat(filepath.Join(s.base, openedMarker)); err == nil {
		since = fi.ModTime()
	}
	if fi, err := os.Stat(filepath.Join(s.base, variantsCleanMarker)); err == nil && fi.ModTime().After(since) {
		since = fi.ModTime()
	}
	marker := filepath.Join(s.base, openedMarker)
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		return since, rpcstatus.Wrapf(err, "cas: writing %s", marker)
	}
	now := time.Now()
	if err := os.Chtimes(marker, now, now); err != nil {
		return since, rpcstatus.Wrapf(err, "cas: writing %s", marker)
	}
	return since, nil
}

// recheckSuspects hashes again the blobs scan found may have been changed,
// dropping those that no longer hold their bytes (see verifyOpen).
func (s *Store) recheckSuspects(ctx context.Context, suspects []*entry) (checked, dropped int, err error) {
	for _, e := range suspects {
		d := digest.Digest{Hash: hex.EncodeToString(e.key[:]), Size: e.size}
		s.mu.Lock()
		s.pinLocked(e)
		s.mu.Unlock()
		err := s.verifyPath(ctx, e, d)
		s.unpin(e)
		if ctx.Err() != nil {
			return checked, dropped, rpcstatus.Wrapf(ctx.Err(), "cas: checking blobs changed while the store was closed")
		}
		checked++
		switch rpcstatus.Code(err) {
		case codes.OK:
		case codes.NotFound:
			dropped++
		default:
			return checked, dropped, err
		}
	}
	if checked > 0 {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "cas: checked the blobs changed on disk since the store was last used",
			slog.Int("checked", checked), slog.Int("dropped", dropped))
	}
	return checked, dropped, nil
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
		t, err := s.createTemp()
		if err != nil {
			return err
		}
		r := &reservation{s: s, d: digest.Empty} // of 0 bytes
		err = s.commit(t, r, blobMode, !s.epochs, func(t *stagedFile) error {
			_, _, err := s.install(t, digest.Empty, k, r)
			return err
		})
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.pinLocked(s.index[k])
	s.mu.Unlock()
	return nil
}
