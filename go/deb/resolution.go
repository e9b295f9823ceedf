package deb

// Resolution is the outcome of Resolve.
type Resolution struct {
	// Packages is the closure, sorted by name, then architecture.
	Packages []*IndexEntry
	// Excluded lists the Essential or Priority: required packages a
	// dependency reached but the closure left out, sorted like Packages.
	Excluded []*IndexEntry
}
