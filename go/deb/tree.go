package deb

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MaxEntries bounds the number of entries one Tree accepts, so that a
// hostile package cannot exhaust the disk with empty files.
const MaxEntries = 2_000_000

// prunedPrefixes are removed from every package: an action's sandbox never
// reads documentation or locales, /var is package-manager state, and /etc
// comes from the image's common/root/etc instead.
var prunedPrefixes = []string{
	"DEBIAN",
	"etc",
	"usr/share/doc",
	"usr/share/info",
	"usr/share/lintian",
	"usr/share/locale",
	"usr/share/man",
	"var",
}

// mergedUsrLinks are the top-level links a merged-/usr tree gets when it
// ships only the usr/ side (Debian 13 libc6 has usr/lib and usr/lib64 but
// no lib64, so PT_INTERP /lib64/ld-linux-x86-64.so.2 would not resolve).
var mergedUsrLinks = []string{"bin", "lib", "lib64", "sbin"}

// Pruned reports whether the runtime tree drops the entry named name (a
// cleaned, root-relative path such as "usr/share/doc/libc6/copyright").
// gconv modules are dropped wherever they are (usr/lib/<triplet>/gconv):
// they are large and only iconv to exotic charsets needs them.
func Pruned(name string) bool {
	for _, p := range prunedPrefixes {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	for _, component := range strings.Split(name, "/") {
		if component == "gconv" {
			return true
		}
	}
	return false
}

type entryKind int

const (
	kindDir entryKind = iota
	kindFile
	kindSymlink
)

// treeEntry records what a path holds, to detect duplicates across
// packages and to check hard link targets.
type treeEntry struct {
	kind   entryKind
	source string // package that provided it, "" for implicit directories
	mode   fs.FileMode
	sum    [sha256.Size]byte // files only
	target string            // symlinks only, after rewriting
	mtime  time.Time         // directories, applied by Finish
}

// Tree builds a runtime tree from the data.tar of one or more packages.
//
// Duplicate paths: directories merge; a regular file or symlink that a
// second package (or a second tar entry) provides again is accepted only if
// it is identical (same content and mode, or same link target), because
// Debian packages of one source legitimately share such files. Anything
// else is an ErrDuplicatePath naming the path and both packages.
//
// Entries are never written through a symlink, so every path in the tree is
// recorded exactly once and a package cannot redirect another's files.
type Tree struct {
	dir     string
	root    *os.Root
	entries map[string]*treeEntry
	count   int
}

// NewTree starts a tree in dir, which must be empty or absent (it is then
// created with mode 0755).
func NewTree(dir string) (*Tree, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	if len(names) > 0 {
		return nil, fmt.Errorf("tree directory %s is not empty", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Tree{
		dir:     dir,
		root:    root,
		entries: map[string]*treeEntry{".": {kind: kindDir, mode: 0o755}},
	}, nil
}

// AddPackage extracts the data.tar of p, naming the package in errors and
// duplicate reports.
func (t *Tree) AddPackage(p *Package) error {
	source := p.Control.Package()
	if source == "" {
		source = p.DataMember()
	}
	rc, err := p.Data()
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	defer rc.Close()
	if err := t.AddTar(source, rc); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	return nil
}

// AddTar extracts an uncompressed tar stream; source names it in errors.
func (t *Tree) AddTar(source string, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("data.tar ends early: %w", ErrTruncated)
			}
			if errors.Is(err, ErrTruncated) || errors.Is(err, ErrMalformed) {
				return err
			}
			return fmt.Errorf("reading data.tar: %w: %w", ErrMalformed, err)
		}
		if err := t.add(source, h, tr); err != nil {
			// An entry's content that ends early.
			if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTruncated) {
				return fmt.Errorf("data.tar ends early: %w: %w", ErrTruncated, err)
			}
			return err
		}
	}
}

// cleanName turns a tar entry name into a root-relative path, refusing
// absolute names and ".." components. It returns "." for the root itself.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("entry %q is absolute: %w", name, ErrUnsafePath)
	}
	for _, component := range strings.Split(name, "/") {
		if component == ".." {
			return "", fmt.Errorf("entry %q has a \"..\" component: %w", name, ErrUnsafePath)
		}
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("entry %q contains NUL: %w", name, ErrMalformed)
	}
	return path.Clean(name), nil
}

func (t *Tree) add(source string, h *tar.Header, r io.Reader) error {
	name, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	if name == "." || Pruned(name) {
		return nil
	}
	t.count++
	if t.count > MaxEntries {
		return fmt.Errorf("more than %d entries at %q: %w", MaxEntries, name, ErrTooManyEntries)
	}
	if err := t.makeParents(source, name); err != nil {
		return err
	}
	mode := fs.FileMode(h.Mode) & fs.ModePerm
	if h.Mode&04000 != 0 {
		mode |= fs.ModeSetuid
	}
	if h.Mode&02000 != 0 {
		mode |= fs.ModeSetgid
	}
	if h.Mode&01000 != 0 {
		mode |= fs.ModeSticky
	}
	existing := t.entries[name]
	switch h.Typeflag {
	case tar.TypeDir:
		if existing != nil {
			if existing.kind != kindDir {
				return t.duplicate(name, existing, source, "a directory")
			}
			if existing.source == "" {
				// An implicit parent takes the mode of its real entry.
				existing.source, existing.mode, existing.mtime = source, mode, h.ModTime
			}
			return nil
		}
		if err := t.root.Mkdir(name, 0o755); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
		t.entries[name] = &treeEntry{kind: kindDir, source: source, mode: mode, mtime: h.ModTime}
		return nil

	case tar.TypeReg, tar.TypeGNUSparse:
		if existing != nil {
			if existing.kind != kindFile {
				return t.duplicate(name, existing, source, "a regular file")
			}
			sum, err := hashOf(r)
			if err != nil {
				return fmt.Errorf("entry %q: %w", name, err)
			}
			if sum != existing.sum || mode != existing.mode {
				return t.duplicate(name, existing, source, "a different regular file")
			}
			return nil
		}
		sum, err := t.writeFile(name, r, mode)
		if err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
		if err := t.root.Chtimes(name, h.ModTime, h.ModTime); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
		t.entries[name] = &treeEntry{kind: kindFile, source: source, mode: mode, sum: sum}
		return nil

	case tar.TypeSymlink:
		target, err := relativeTarget(name, h.Linkname)
		if err != nil {
			return err
		}
		if existing != nil {
			if existing.kind != kindSymlink || existing.target != target {
				return t.duplicate(name, existing, source, fmt.Sprintf("a symlink to %q", target))
			}
			return nil
		}
		if err := t.root.Symlink(target, name); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
		if err := t.lchtimes(name, h.ModTime); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
		t.entries[name] = &treeEntry{kind: kindSymlink, source: source, target: target}
		return nil

	case tar.TypeLink:
		if strings.HasPrefix(h.Linkname, "/") {
			return fmt.Errorf("hard link %q to absolute %q: %w", name, h.Linkname, ErrUnsafePath)
		}
		target, err := cleanName(h.Linkname)
		if err != nil {
			return fmt.Errorf("hard link %q: %w", name, err)
		}
		if Pruned(target) {
			return fmt.Errorf("hard link %q points to pruned %q: %w", name, target, ErrUnsupportedEntry)
		}
		te := t.entries[target]
		if te == nil || te.kind != kindFile {
			return fmt.Errorf("hard link %q points to %q, which is not an earlier regular file: %w", name, target, ErrMalformed)
		}
		if existing != nil {
			if existing.kind != kindFile || existing.sum != te.sum || existing.mode != te.mode {
				return t.duplicate(name, existing, source, fmt.Sprintf("a hard link to %q", target))
			}
			return nil
		}
		if err := t.root.Link(target, name); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
		copied := *te
		copied.source = source
		t.entries[name] = &copied
		return nil

	default:
		return fmt.Errorf("entry %q has tar type %q: %w", name, h.Typeflag, ErrUnsupportedEntry)
	}
}

// makeParents creates the missing parents of name and refuses parents that
// are not directories (a symlink parent would let one entry write through
// another package's link).
func (t *Tree) makeParents(source, name string) error {
	dir := path.Dir(name)
	var missing []string
	for dir != "." {
		e := t.entries[dir]
		if e != nil {
			if e.kind != kindDir {
				return fmt.Errorf("entry %q: parent %q is not a directory (from %s): %w", name, dir, e.source, ErrUnsafePath)
			}
			break
		}
		missing = append(missing, dir)
		dir = path.Dir(dir)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := t.root.Mkdir(missing[i], 0o755); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
		t.entries[missing[i]] = &treeEntry{kind: kindDir, mode: 0o755}
	}
	return nil
}

func (t *Tree) duplicate(name string, existing *treeEntry, source, what string) error {
	from := existing.source
	if from == "" {
		from = "an implicit directory"
	}
	return fmt.Errorf("%q from %s is %s, but %s already provided it: %w", name, source, what, from, ErrDuplicatePath)
}

func (t *Tree) writeFile(name string, r io.Reader, mode fs.FileMode) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := t.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return sum, err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		f.Close()
		return sum, err
	}
	if err := f.Close(); err != nil {
		return sum, err
	}
	// Chmod after writing: the umask must not change the mode, and a
	// read-only mode must not stop the write.
	if err := t.root.Chmod(name, mode); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

func hashOf(r io.Reader) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// lchtimes sets a symlink's own mtime. os.Root has no Lchtimes; the path is
// safe to use directly because no parent in the tree is a symlink.
func (t *Tree) lchtimes(name string, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(t.dir, name), ts, unix.AT_SYMLINK_NOFOLLOW)
}

// relativeTarget returns the target a symlink at name gets in the tree.
// Absolute targets are taken as relative to the tree root (as they would be
// in a chroot) and rewritten relative to the link, so the tree can be
// mounted anywhere. Relative targets must not leave the root.
func relativeTarget(name, target string) (string, error) {
	if target == "" {
		return "", fmt.Errorf("symlink %q has an empty target: %w", name, ErrMalformed)
	}
	if strings.ContainsRune(target, 0) {
		return "", fmt.Errorf("symlink %q target contains NUL: %w", name, ErrMalformed)
	}
	if path.IsAbs(target) {
		inRoot := strings.TrimPrefix(path.Clean(target), "/")
		if inRoot == "" {
			inRoot = "."
		}
		rel, err := filepath.Rel(path.Dir(name), inRoot)
		if err != nil {
			return "", fmt.Errorf("symlink %q to %q: %w", name, target, err)
		}
		return filepath.ToSlash(rel), nil
	}
	resolved := path.Join(path.Dir(name), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return "", fmt.Errorf("symlink %q to %q resolves outside the root: %w", name, target, ErrUnsafePath)
	}
	return target, nil
}

// Link adds a hard link newname to the existing regular file oldname
// (both root-relative), for names a runtime needs but no package ships,
// such as bin/bash next to bin/bash-static.
func (t *Tree) Link(oldname, newname string) error {
	te := t.entries[oldname]
	if te == nil || te.kind != kindFile {
		return fmt.Errorf("link %q: %q is not a regular file in the tree: %w", newname, oldname, ErrMissingMember)
	}
	if existing := t.entries[newname]; existing != nil {
		return t.duplicate(newname, existing, "the runtime builder", fmt.Sprintf("a hard link to %q", oldname))
	}
	if err := t.makeParents("the runtime builder", newname); err != nil {
		return err
	}
	if err := t.root.Link(oldname, newname); err != nil {
		return err
	}
	copied := *te
	copied.source = "the runtime builder"
	t.entries[newname] = &copied
	return nil
}

// Lookup reports what the tree holds at name, following symlinks that the
// tree itself defines (lexically, within the root). It returns the resolved
// root-relative path and whether it is a directory or a regular file.
func (t *Tree) Lookup(name string) (resolved string, isDir, ok bool) {
	name = path.Clean(name)
	for range 40 {
		// Resolve parents first, component by component.
		parts := strings.Split(name, "/")
		current := "."
		redirected := false
		for i, part := range parts {
			next := path.Join(current, part)
			e := t.entries[next]
			if e == nil {
				return "", false, false
			}
			if e.kind == kindSymlink {
				rest := strings.Join(parts[i+1:], "/")
				name = path.Join(path.Dir(next), e.target, rest)
				if name == ".." || strings.HasPrefix(name, "../") {
					return "", false, false
				}
				redirected = true
				break
			}
			current = next
		}
		if !redirected {
			e := t.entries[current]
			return current, e.kind == kindDir, true
		}
	}
	return "", false, false
}

// MergeUsr adds the top-level links of a merged-/usr system (bin, lib,
// lib64, sbin -> usr/...) where the tree has a non-empty usr/ directory but
// nothing at the top-level name. Call it after the last package.
func (t *Tree) MergeUsr() error {
	if err := t.removeEmptyDirs(); err != nil {
		return err
	}
	for _, top := range mergedUsrLinks {
		usr := "usr/" + top
		if t.entries[top] != nil {
			continue
		}
		if e := t.entries[usr]; e == nil || e.kind != kindDir {
			continue
		}
		if err := t.root.Symlink(usr, top); err != nil {
			return fmt.Errorf("merged-usr link %q: %w", top, err)
		}
		if err := t.lchtimes(top, time.Unix(0, 0)); err != nil {
			return fmt.Errorf("merged-usr link %q: %w", top, err)
		}
		t.entries[top] = &treeEntry{kind: kindSymlink, source: "merged-usr", target: usr}
	}
	return nil
}

// Finish removes directories left empty by pruning, applies directory
// modes and mtimes (directories stay writable during extraction) and closes
// the tree.
func (t *Tree) Finish() error {
	defer t.root.Close()
	if err := t.removeEmptyDirs(); err != nil {
		return err
	}
	var dirs []string
	for name, e := range t.entries {
		if e.kind == kindDir {
			dirs = append(dirs, name)
		}
	}
	// Deepest first, so that setting a parent's mtime comes after all
	// changes to its children.
	sort.Slice(dirs, func(i, j int) bool {
		di, dj := strings.Count(dirs[i], "/"), strings.Count(dirs[j], "/")
		if dirs[i] == "." {
			di = -1
		}
		if dirs[j] == "." {
			dj = -1
		}
		if di != dj {
			return di > dj
		}
		return dirs[i] < dirs[j]
	})
	for _, name := range dirs {
		e := t.entries[name]
		if err := t.root.Chmod(name, e.mode); err != nil {
			return fmt.Errorf("directory %q: %w", name, err)
		}
		mtime := e.mtime
		if mtime.IsZero() {
			mtime = time.Unix(0, 0)
		}
		if err := t.root.Chtimes(name, mtime, mtime); err != nil {
			return fmt.Errorf("directory %q: %w", name, err)
		}
	}
	return nil
}

// removeEmptyDirs deletes directories left empty by pruning (bookworm's
// usr/lib/x86_64-linux-gnu holds only gconv). Empty directories do not
// survive Bazel's remote and disk caches, so keeping them would make an
// image depend on where its inputs came from.
func (t *Tree) removeEmptyDirs() error {
	children := map[string]int{}
	var dirs []string
	for name, e := range t.entries {
		if name == "." {
			continue
		}
		children[path.Dir(name)]++
		if e.kind == kindDir {
			dirs = append(dirs, name)
		}
	}
	// Deepest first, so that removing a child can empty its parent.
	sort.Slice(dirs, func(i, j int) bool {
		if di, dj := strings.Count(dirs[i], "/"), strings.Count(dirs[j], "/"); di != dj {
			return di > dj
		}
		return dirs[i] < dirs[j]
	})
	for _, name := range dirs {
		if children[name] > 0 {
			continue
		}
		if err := t.root.Remove(name); err != nil {
			return fmt.Errorf("removing empty directory %q: %w", name, err)
		}
		delete(t.entries, name)
		children[path.Dir(name)]--
	}
	return nil
}

// Close releases the tree without finishing it.
func (t *Tree) Close() error { return t.root.Close() }
