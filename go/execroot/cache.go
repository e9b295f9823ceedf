package execroot

import (
	"container/list"
	"context"
	"os"
	"path/filepath"
	"sync"

	"github.com/actiond/actiond/go/internal/rmtree"
)

// entry is one materialized directory on disk: a directory-cache tree
// (dircache/<hash>-<size>.<n>) or a lower tree of an input root
// (roots/<hash>-<size>-<plan>.<n>). Entries are reference counted while
// actions use them; unreferenced entries sit in an LRU list until evicted.
type entry struct {
	key string
	// flight is the entry's build; its err and builtTree are set under
	// cache.mu when it finishes.
	flight
	builtTree
	refs int
	elem *list.Element // in cache.lru while refs == 0
	// epoch is the store's flush failure count when the build began; the
	// entry is retired once it changes (see cache.failures).
	epoch int64
}

// cache holds entries, builds each at most once at a time, and evicts
// unreferenced ones least recently used first once there are more than
// maxEntries or they pin more than maxBytes.
type cache struct {
	mu         sync.Mutex
	entries    map[string]*entry
	lru        list.List // *entry, front = most recently released
	bytes      int64
	maxEntries int
	maxBytes   int64
	trash      string // directory for evicted trees awaiting removal
	seq        *seqGen
	// failures returns the store's count of failed flushes. A tree built
	// before a failure may link an executable variant whose bytes the
	// failure lost (variants are used before their flush), so it is not
	// handed out again; failures are rare, so all such trees go.
	failures func() int64

	hits, misses, evictions uint64
}

// acquire returns the entry for key with a reference taken, and whether it
// was found in the cache (built or being built), building it with build if
// absent. Concurrent callers of one key share a single build, with the
// cancellation contract of flight; a waiter holds its reference while it
// waits.
func (c *cache) acquire(ctx context.Context, key string, build func() (builtTree, error)) (*entry, bool, error) {
	return retryAbandoned(ctx, func() (*entry, bool, error) { return c.acquireOnce(ctx, key, build) })
}

func (c *cache) acquireOnce(ctx context.Context, key string, build func() (builtTree, error)) (*entry, bool, error) {
	epoch := c.failures()
	c.mu.Lock()
	e, ok := c.entries[key]
	var retired []*entry // to drop once unlocked
	if ok && e.epoch < epoch && e.finished() {
		if c.retireLocked(e) {
			retired = append(retired, e)
		}
		ok = false
	}
	if ok {
		e.refs++
		if e.elem != nil {
			c.lru.Remove(e.elem)
			e.elem = nil
		}
		c.hits++
		c.mu.Unlock()
		if err := e.wait(ctx); err != nil {
			c.release(e)
			return nil, true, err
		}
		return e, true, nil
	}
	e = &entry{key: key, refs: 1, flight: newFlight(), epoch: epoch}
	c.entries[key] = e
	c.misses++
	c.mu.Unlock()
	c.drop(retired)

	built, err := build()
	c.mu.Lock()
	if err != nil {
		delete(c.entries, key)
		e.refs--
	} else {
		e.builtTree = built
		c.bytes += built.bytes
	}
	e.finish(err)
	c.mu.Unlock()
	if err != nil {
		return nil, false, err
	}
	return e, false, nil
}

// release drops a reference; an unreferenced entry becomes evictable, or is
// removed at once when it was retired meanwhile.
func (c *cache) release(e *entry) {
	c.mu.Lock()
	e.refs--
	var victims []*entry
	switch {
	case e.refs > 0 || e.err != nil:
	case c.entries[e.key] == e:
		e.elem = c.lru.PushFront(e)
	default: // retired
		victims = append(victims, e)
	}
	victims = append(victims, c.evictLocked()...)
	c.mu.Unlock()
	c.drop(victims)
}

// retireLocked takes a built entry out of the cache so that the next
// acquire of its key builds it anew. It reports whether the entry is
// unreferenced, for the caller to drop; a referenced one is dropped on its
// last release.
func (c *cache) retireLocked(e *entry) bool {
	delete(c.entries, e.key)
	c.bytes -= e.bytes
	if e.elem == nil {
		return false
	}
	c.lru.Remove(e.elem)
	e.elem = nil
	return true
}

// evictLocked unlinks victims from the cache; drop removes them from disk
// after the lock is released.
func (c *cache) evictLocked() []*entry {
	var victims []*entry
	for (len(c.entries) > c.maxEntries || c.bytes > c.maxBytes) && c.lru.Len() > 0 {
		e := c.lru.Remove(c.lru.Back()).(*entry)
		e.elem = nil
		delete(c.entries, e.key)
		c.bytes -= e.bytes
		c.evictions++
		victims = append(victims, e)
	}
	return victims
}

func (c *cache) drop(victims []*entry) {
	for _, e := range victims {
		for _, u := range e.unpins {
			u()
		}
		// Rename first so that the key's path is free at once for a rebuild.
		tmp := filepath.Join(c.trash, c.seq.next())
		if err := os.Rename(e.path, tmp); err == nil {
			_ = rmtree.Remove(tmp)
		} else {
			_ = rmtree.Remove(e.path)
		}
	}
}

func (c *cache) stats() (entries int, bytes int64, hits, misses, evictions uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.bytes, c.hits, c.misses, c.evictions
}

// treeCache keeps validated input trees in memory, so a repeated input root
// costs no CAS reads and no validation. It is bounded by entries only: each
// tree's Directory protos are already bounded by MaxInputDirectoryBytes.
type treeCache struct {
	mu         sync.Mutex
	m          map[string]*treeEntry
	lru        list.List // *treeEntry, front = most recent
	maxEntries int

	hits, misses uint64
}

type treeEntry struct {
	key    string
	flight            // fetching and validating the tree
	tree   *inputTree // set before the flight finishes
	elem   *list.Element
}

// get returns the tree for key, and whether it was found in the cache
// (validated or being fetched), fetching it with build if absent.
// Concurrent callers of one key share a single build, with the
// cancellation contract of flight. Failed builds are not remembered.
func (c *treeCache) get(ctx context.Context, key string, build func() (*inputTree, error)) (*inputTree, bool, error) {
	return retryAbandoned(ctx, func() (*inputTree, bool, error) { return c.getOnce(ctx, key, build) })
}

func (c *treeCache) getOnce(ctx context.Context, key string, build func() (*inputTree, error)) (*inputTree, bool, error) {
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		c.hits++
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		c.mu.Unlock()
		if err := e.wait(ctx); err != nil {
			return nil, true, err
		}
		return e.tree, true, nil
	}
	e := &treeEntry{key: key, flight: newFlight()}
	c.m[key] = e
	c.misses++
	c.mu.Unlock()

	tree, err := build()
	c.mu.Lock()
	if err != nil {
		delete(c.m, key) // failures (missing blobs) are not remembered
	} else {
		e.elem = c.lru.PushFront(e)
		for c.lru.Len() > c.maxEntries {
			old := c.lru.Remove(c.lru.Back()).(*treeEntry)
			delete(c.m, old.key)
		}
	}
	e.tree = tree
	e.finish(err)
	c.mu.Unlock()
	return tree, false, err
}
