// Package deb reads Debian binary packages (.deb files) and Debian
// Packages indexes, extracts a package's data.tar into a runtime tree,
// resolves a dependency closure over indexes and pins it in a lock file.
//
// A .deb is an ar archive holding debian-binary, control.tar[.xz|.zst|.gz]
// and data.tar[.xz|.zst|.gz]. Read and Open parse the archive and the
// control file; Package.Data streams the decompressed data.tar. Tree turns
// one or more packages into a directory tree fit for a runtime image: it
// prunes what a sandboxed action never needs (documentation, locales,
// gconv modules, /var, /etc), keeps modes, symlinks and hard links, refuses
// entries that would escape the tree, and rewrites absolute symlinks into
// relative ones so that the tree stays self-contained when it is mounted
// somewhere else.
//
// ReadIndex parses a Packages index (plain or compressed); Resolve computes
// the Depends and Pre-Depends closure of some packages over indexes, with
// Debian's version ordering (Version), relations (Relation, Alternatives),
// Provides and Multi-Arch; NewLock pins the closure (name, version,
// architecture, pool path, size, sha256) and Fetch downloads exactly what a
// lock pins, checking every hash.
//
// The package is a leaf: errors are plain Go errors that wrap the sentinel
// errors declared in errors.go, so callers test them with errors.Is.
package deb
