package deb

// ResolveOptions controls Resolve.
type ResolveOptions struct {
	// Arch is the target architecture (Debian's name: amd64, arm64). Roots
	// without an ":arch" are of this architecture, and "Architecture: all"
	// packages count as it.
	Arch string
	// IncludeEssential keeps Essential and Priority: required packages in
	// the closure when a dependency reaches them (see Resolve).
	IncludeEssential bool
}
