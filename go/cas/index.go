package cas

import (
	"encoding/hex"

	"github.com/actiond/actiond/go/digest"
)

// key is the binary SHA-256 of a blob. Keys are 32 bytes rather than the
// 64-character hex string to halve the index's memory.
type key [32]byte

func keyOf(d digest.Digest) (key, bool) {
	var k key
	if len(d.Hash) != 2*len(k) {
		return k, false
	}
	if _, err := hex.Decode(k[:], []byte(d.Hash)); err != nil {
		return k, false
	}
	return k, true
}

// entry is one blob in the index. While pins > 0 the entry is not on the LRU
// list, which is what keeps it from eviction and makes eviction O(1).
type entry struct {
	key     key
	size    int64
	hasExec bool // the sha256x/ executable variant exists
	pins    int
	// dur and execDur track whether the blob's file and its executable
	// variant are known to be on disk; nil means they are (or the variant
	// does not exist).
	dur, execDur *durability
	// prev and next link the LRU list; the list head is the most recently used.
	prev, next *entry
}

// bytes is what the entry counts against MaxBytes.
func (e *entry) bytes() int64 {
	if e.hasExec {
		return 2 * e.size
	}
	return e.size
}

// lru is an intrusive doubly linked list with a sentinel.
type lru struct {
	root entry
}

func (l *lru) init() {
	l.root.next = &l.root
	l.root.prev = &l.root
}

func (l *lru) pushFront(e *entry) {
	e.prev = &l.root
	e.next = l.root.next
	e.prev.next = e
	e.next.prev = e
}

func (l *lru) pushBack(e *entry) {
	e.next = &l.root
	e.prev = l.root.prev
	e.prev.next = e
	e.next.prev = e
}

func (l *lru) remove(e *entry) {
	if e.prev == nil {
		return
	}
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (l *lru) moveToFront(e *entry) {
	if e.prev == nil || l.root.next == e {
		return
	}
	l.remove(e)
	l.pushFront(e)
}

// back returns the least recently used entry, or nil.
func (l *lru) back() *entry {
	if l.root.prev == &l.root {
		return nil
	}
	return l.root.prev
}

// durability is the state of one file renamed into the store before a
// filesystem flush has confirmed it: see Store.awaitDurable. Each file gets
// its own, so a verdict can never apply to a later file of the same name.
type durability struct {
	epoch   int64 // groupSyncer.failureEpoch before the file's bytes were written
	pending bool  // no verdict yet
	err     error // the verdict when the file could not be confirmed
}
