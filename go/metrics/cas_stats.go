package metrics

import "github.com/actiond/actiond/go/cas"

// CASStats reports a CAS's state; *cas.Store implements it.
type CASStats interface {
	Stats() cas.Stats
}
