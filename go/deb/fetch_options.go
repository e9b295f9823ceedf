package deb

import (
	"net/http"
)

// FetchOptions controls Fetch.
type FetchOptions struct {
	// Archive is the archive root URL for the packages whose lock entry
	// names none.
	Archive string
	// Client does the downloads; nil means http.DefaultClient.
	Client *http.Client
	// Parallel is the number of downloads at once; 0 means 4.
	Parallel int
	// Progress, if not nil, hears of the bytes and packages fetched
	// (go/progress.Reporter is one).
	Progress FetchProgress
}

// FetchProgress hears how a Fetch advances, from several goroutines at
// once: Fetch downloads packages in parallel.
type FetchProgress interface {
	// AddBytes counts n bytes downloaded, or found already in place.
	AddBytes(n int64)
	// AddItems counts n packages in place with their pinned hash.
	AddItems(n int64)
}
