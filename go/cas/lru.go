package cas

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
