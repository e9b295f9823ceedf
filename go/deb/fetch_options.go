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
}
