package cas

import (
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actiond/actiond/go/digest"
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
	// StrictFsync turns off epochs (see doc.go): every blob's bytes reach
	// the disk (fdatasync) before the blob is renamed into place, and a
	// write is acknowledged only after a filesystem flush that followed its
	// rename. It costs a disk flush per blob. Open turns it on by itself
	// where epochs cannot be trusted: on filesystems other than ext4 with a
	// journal, xfs, btrfs and tmpfs, on kernels before 5.8 and on macOS.
	StrictFsync bool
	// FlushInterval is how long a blob may stay acknowledged but not yet
	// flushed in epoch mode: the background flush runs this long after the
	// first write it will cover. 0 means DefaultFlushInterval.
	FlushInterval time.Duration

	// forceEpochs lets tests use epochs on a filesystem Open would not
	// trust with them.
	forceEpochs bool
}

// DefaultFlushInterval is the FlushInterval used when Options leaves it 0.
const DefaultFlushInterval = time.Second

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
	// SyncFailures counts the flushes that failed. Each one removes the
	// blobs renamed in since the last successful one, and fails the writes
	// waiting for it.
	SyncFailures int64
	// Unflushed counts the blobs acknowledged (epoch mode) and executable
	// variants handed out that no flush has confirmed yet.
	Unflushed int64
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
	// epochs is set when blobs are acknowledged once renamed in and made
	// durable by the background flush (see doc.go); otherwise (strict
	// mode) each blob is fdatasynced and flushed before it is acknowledged.
	epochs        bool
	recentDir     string // Root/cas/recent: blobs renamed in since their flush, see install
	recentSeq     atomic.Uint64
	flushInterval time.Duration
	syncer        *groupSyncer

	// baseDir is an open descriptor of Root/cas for syncfs, nil after Close.
	baseMu  sync.RWMutex
	baseDir *os.File

	mu        sync.Mutex
	index     map[key]*entry
	lru       lru // unpinned entries only, most recently used first
	bytes     int64
	reserved  int64 // space promised to in-flight writes
	evictions int64
	// unsettled are the files not yet known to be on disk (see settle);
	// settling is set while settle runs, which kick wakes at once.
	unsettled []unsettled
	settling  bool
	settlers  sync.WaitGroup // the settle goroutine, while it runs
	kick      chan struct{}
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
		Syncs: s.syncer.syncs.Load(), SyncFailures: s.syncer.failures.Load(), Unflushed: int64(len(s.unsettled)),
	}
}

// Close releases the store. It first runs the background flush at once
// and waits for its verdicts (dropping what could not be flushed); after
// that nothing is deleted. Blobs and Writers still open keep working on
// their files (a commit after Close waits for a flush of its own, through
// a descriptor of its own).
func (s *Store) Close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.makers.Wait()
	s.wakeSettle()
	s.settlers.Wait()
	var markErr error
	if s.opened {
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
