package squashfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

type inodeKind int

const (
	kindDir inodeKind = iota
	kindFile
	kindSymlink
)

// inode is one file, directory or symlink of the image tree. Files and
// symlinks may be reached through several directory entries (hard links).
type inode struct {
	kind inodeKind
	// perm holds the permission bits including setuid, setgid and sticky,
	// in Unix layout (07777).
	perm uint16

	// Directories.
	children map[string]*inode
	// implicit is set for directories created only as parents of added
	// paths; a later AddTree or AddDir may claim them.
	implicit bool

	// Files: either read from hostPath (size bytes at hostOffset when
	// inArchive, the file from its start otherwise) or held in data.
	hostPath   string
	hostOffset int64
	inArchive  bool
	data       []byte
	size       int64

	// Symlinks.
	target string
}

// hostInode identifies a host file, to find hard links.
type hostInode struct{ dev, ino uint64 }

// Builder collects an image tree. Its methods are not safe for concurrent
// use. Host files are read during WriteTo, not when added.
type Builder struct {
	opts  Options
	root  *inode
	links map[hostInode]*inode
}

// NewBuilder returns a Builder with an empty root directory (mode 0755)
// that will write images with opts.
func NewBuilder(opts Options) (*Builder, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Builder{
		opts:  o,
		root:  &inode{kind: kindDir, perm: 0o755, children: map[string]*inode{}, implicit: true},
		links: map[hostInode]*inode{},
	}, nil
}

// splitImagePath splits an image path such as "a/b/c" (leading and trailing
// slashes allowed) into its components. "", "." and "/" are the root.
func splitImagePath(p string) ([]string, error) {
	t := strings.Trim(p, "/")
	if t == "" || t == "." {
		return nil, nil
	}
	parts := strings.Split(t, "/")
	for _, c := range parts {
		if err := checkName(c); err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrInvalidPath, p, err)
		}
	}
	return parts, nil
}

// displayPath formats an image path for errors; the root is "/".
func displayPath(parts []string) string {
	if len(parts) == 0 {
		return "/"
	}
	return strings.Join(parts, "/")
}

func checkName(c string) error {
	switch {
	case c == "" || c == "." || c == "..":
		return fmt.Errorf("component %q is not a file name", c)
	case len(c) > maxNameLen:
		return fmt.Errorf("component of %d bytes exceeds %d", len(c), maxNameLen)
	case strings.ContainsRune(c, 0):
		return fmt.Errorf("component contains a NUL byte")
	}
	return nil
}

// parentDir returns the directory holding parts[len(parts)-1], creating
// implicit directories on the way.
func (b *Builder) parentDir(parts []string) (*inode, error) {
	dir := b.root
	for i, c := range parts[:len(parts)-1] {
		child, ok := dir.children[c]
		if !ok {
			child = &inode{kind: kindDir, perm: 0o755, children: map[string]*inode{}, implicit: true}
			dir.children[c] = child
		} else if child.kind != kindDir {
			return nil, fmt.Errorf("%w %q: %q is not a directory", ErrInvalidPath, strings.Join(parts, "/"), strings.Join(parts[:i+1], "/"))
		}
		dir = child
	}
	return dir, nil
}

// insert adds n at the image path given by parts.
func (b *Builder) insert(parts []string, n *inode) error {
	if len(parts) == 0 {
		return fmt.Errorf("%w: %q: only a directory can be the root", ErrDuplicatePath, displayPath(nil))
	}
	dir, err := b.parentDir(parts)
	if err != nil {
		return err
	}
	name := parts[len(parts)-1]
	if _, ok := dir.children[name]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicatePath, displayPath(parts))
	}
	dir.children[name] = n
	return nil
}

// claimDir returns the directory at parts for an explicit addition with
// perm: a new one, or an implicit one that now gets perm.
func (b *Builder) claimDir(parts []string, perm uint16) (*inode, error) {
	var d *inode
	if len(parts) == 0 {
		d = b.root
	} else {
		dir, err := b.parentDir(parts)
		if err != nil {
			return nil, err
		}
		name := parts[len(parts)-1]
		d = dir.children[name]
		if d == nil {
			d = &inode{kind: kindDir, children: map[string]*inode{}, implicit: true}
			dir.children[name] = d
		}
	}
	if d.kind != kindDir || !d.implicit {
		return nil, fmt.Errorf("%w: %q", ErrDuplicatePath, displayPath(parts))
	}
	d.implicit = false
	d.perm = perm
	return d, nil
}

// AddFile adds a regular file holding data (not copied) with the
// permission bits of mode.
func (b *Builder) AddFile(imagePath string, data []byte, mode fs.FileMode) error {
	parts, err := splitImagePath(imagePath)
	if err != nil {
		return err
	}
	return b.insert(parts, &inode{kind: kindFile, perm: permBits(mode), data: data, size: int64(len(data))})
}

// AddDir adds a directory with the permission bits of mode. Its parents
// are created with mode 0755 if missing.
func (b *Builder) AddDir(imagePath string, mode fs.FileMode) error {
	parts, err := splitImagePath(imagePath)
	if err != nil {
		return err
	}
	_, err = b.claimDir(parts, permBits(mode))
	return err
}

// AddSymlink adds a symlink to target, which need not exist.
func (b *Builder) AddSymlink(imagePath, target string) error {
	parts, err := splitImagePath(imagePath)
	if err != nil {
		return err
	}
	if err := checkTarget(target); err != nil {
		return fmt.Errorf("%w %q: %v", ErrInvalidPath, imagePath, err)
	}
	return b.insert(parts, &inode{kind: kindSymlink, perm: 0o777, target: target})
}

func checkTarget(target string) error {
	if target == "" || len(target) > maxSymlinkLen {
		return fmt.Errorf("symlink target of %d bytes is outside 1-%d", len(target), maxSymlinkLen)
	}
	return nil
}

// AddTree adds the contents of the host directory hostDir at imagePath
// ("" for the root), which gets hostDir's permission bits. hostDir itself
// may be a symlink; symlinks inside it are kept as symlinks. Files that are
// hard links of each other, within this tree or across trees, share an
// inode. Sockets, device nodes and FIFOs are refused with
// ErrUnsupportedFileType; paths already added with ErrDuplicatePath.
func (b *Builder) AddTree(imagePath, hostDir string) error {
	parts, err := splitImagePath(imagePath)
	if err != nil {
		return err
	}
	info, err := os.Stat(hostDir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrUnsupportedFileType, hostDir)
	}
	dir, err := b.claimDir(parts, permBits(info.Mode()))
	if err != nil {
		return err
	}
	return b.addHostDir(dir, strings.Join(parts, "/"), hostDir)
}

func (b *Builder) addHostDir(dir *inode, imageDir, hostDir string) error {
	f, err := os.Open(hostDir)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", hostDir, err)
	}
	for _, name := range names {
		hostPath := filepath.Join(hostDir, name)
		imagePath := name
		if imageDir != "" {
			imagePath = imageDir + "/" + name
		}
		if err := checkName(name); err != nil {
			return fmt.Errorf("%w %q (from %s): %v", ErrInvalidPath, imagePath, hostPath, err)
		}
		info, err := os.Lstat(hostPath)
		if err != nil {
			return err
		}
		existing := dir.children[name]
		if info.IsDir() {
			if existing != nil && (existing.kind != kindDir || !existing.implicit) {
				return fmt.Errorf("%w: %q (from %s)", ErrDuplicatePath, imagePath, hostPath)
			}
			if existing == nil {
				existing = &inode{kind: kindDir, children: map[string]*inode{}}
				dir.children[name] = existing
			}
			existing.implicit = false
			existing.perm = permBits(info.Mode())
			if err := b.addHostDir(existing, imagePath, hostPath); err != nil {
				return err
			}
			continue
		}
		if existing != nil {
			return fmt.Errorf("%w: %q (from %s)", ErrDuplicatePath, imagePath, hostPath)
		}
		n, err := b.hostInode(hostPath, info)
		if err != nil {
			return fmt.Errorf("%w (image path %q)", err, imagePath)
		}
		dir.children[name] = n
	}
	return nil
}

// hostInode returns the inode for a non-directory host file, shared with
// earlier hard links to it.
func (b *Builder) hostInode(hostPath string, info fs.FileInfo) (*inode, error) {
	var key hostInode
	st, linked := info.Sys().(*syscall.Stat_t)
	linked = linked && st.Nlink > 1
	if linked {
		key = hostInode{dev: uint64(st.Dev), ino: uint64(st.Ino)}
		if n := b.links[key]; n != nil {
			return n, nil
		}
	}
	var n *inode
	switch mode := info.Mode(); {
	case mode.IsRegular():
		n = &inode{kind: kindFile, perm: permBits(mode), hostPath: hostPath, size: info.Size()}
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(hostPath)
		if err != nil {
			return nil, err
		}
		if err := checkTarget(target); err != nil {
			return nil, fmt.Errorf("%w %s: %v", ErrInvalidPath, hostPath, err)
		}
		n = &inode{kind: kindSymlink, perm: 0o777, target: target}
	default:
		return nil, fmt.Errorf("%w: %s is a %s", ErrUnsupportedFileType, hostPath, typeName(mode))
	}
	if linked {
		b.links[key] = n
	}
	return n, nil
}

func typeName(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeCharDevice != 0:
		return "character device"
	case mode&fs.ModeDevice != 0:
		return "block device"
	case mode&fs.ModeNamedPipe != 0:
		return "fifo"
	}
	return "file of type " + mode.Type().String()
}

// permBits converts the permission, setuid, setgid and sticky bits of a
// Go FileMode to their Unix values.
func permBits(mode fs.FileMode) uint16 {
	p := uint16(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}
