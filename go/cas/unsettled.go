package cas

// unsettled is a file in the store that no flush has confirmed yet: a blob
// acknowledged in epoch mode, or an executable variant handed out before
// its flush. Store.settle gives its verdict.
type unsettled struct {
	dur *durability
	// drop removes the file when its flush fails; it is called under s.mu.
	drop func()
	// link is the blob's entry under Root/cas/recent (epoch mode), which
	// goes once the verdict is given, whichever it is.
	link string
	// acknowledged marks a blob a client was told is stored, which Sync
	// must cover; variants are nobody's promise.
	acknowledged bool
}
