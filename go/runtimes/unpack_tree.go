package runtimes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/actiond/actiond/go/squashfs"
)

// maxUnpackDepth bounds how deep a directory an image may hold, so that a
// damaged image cannot make the walk recurse without end.
const maxUnpackDepth = 256

// unpacker writes the tree of a squashfs.Reader under a new directory.
type unpacker struct {
	rd  *squashfs.Reader
	dst string
	// dirs holds the inode numbers of the directories seen: a directory
	// has one entry in a well-formed image, so a repeat is a loop.
	dirs map[uint32]bool
	// links maps the inode number of each regular file and symlink
	// written to its image path, to recreate hard links.
	links map[uint32]string
	buf   []byte
	// rootFile, if set, is written into dst with rootData after the
	// image's entries, before dst gets its mode (which may be read-only).
	rootFile string
	rootData []byte
	// progress, if not nil, hears of each inode written.
	progress     func(done, total int64)
	done, inodes int64
}

// unpackTree writes the tree held by rd to dst, calling progress (if not
// nil) with the inodes written so far and the image's inode count, which must not exist, and
// the file rootFile holding rootData (mode 0444) at its top, as
// unsquashfs would for a non-root user: directories, regular files,
// symlinks and hard links with their permission bits (setuid and setgid
// dropped) and the modification times of files and directories; no owners
// and no xattrs. Runs of zeros in files are left as holes. It refuses
// device nodes, FIFOs and sockets. The image cannot write outside dst:
// names are single path components (squashfs.Reader refuses others), every
// file, directory and link is created exclusively (so an entry never
// writes through a symlink or an earlier entry of the same name), and
// symlinks are written as symlinks, never followed.
func unpackTree(ctx context.Context, rd *squashfs.Reader, dst, rootFile string, rootData []byte, progress func(done, total int64)) error {
	u := &unpacker{rd: rd, dst: dst, dirs: map[uint32]bool{}, links: map[uint32]string{}, rootFile: rootFile, rootData: rootData,
		progress: progress, inodes: int64(rd.InodeCount())}
	root, err := rd.Stat(".")
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	return u.dir(ctx, ".", root, 0)
}

// dir writes the contents of the image directory name, then gives the
// directory its mode and time (a 0555 directory can only be filled first).
func (u *unpacker) dir(ctx context.Context, name string, info fs.FileInfo, depth int) error {
	n := inodeNumber(info)
	if u.dirs[n] {
		return fmt.Errorf("%s: directory inode %d appears twice", name, n)
	}
	u.dirs[n] = true
	u.advance()
	if depth > maxUnpackDepth {
		return fmt.Errorf("%s: deeper than %d directories", name, maxUnpackDepth)
	}
	entries, err := u.rd.ReadDir(name)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		child := path.Join(name, e.Name())
		if !fs.ValidPath(child) || strings.Contains(e.Name(), "/") {
			return fmt.Errorf("%s: invalid entry %q", name, e.Name())
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if err := u.entry(ctx, child, info, depth); err != nil {
			return err
		}
	}
	if name == "." {
		if err := os.WriteFile(u.path(u.rootFile), u.rootData, 0o444); err != nil {
			return err
		}
	}
	return u.finish(name, info)
}

// entry writes one directory entry.
func (u *unpacker) entry(ctx context.Context, name string, info fs.FileInfo, depth int) error {
	target := u.path(name)
	mode := info.Mode()
	switch {
	case mode.IsDir():
		if err := os.Mkdir(target, 0o700); err != nil {
			return err
		}
		return u.dir(ctx, name, info, depth+1)
	case mode.Type() == fs.ModeSymlink, mode.IsRegular():
		n := inodeNumber(info)
		if first, ok := u.links[n]; ok {
			// Hard links share an inode; Link does not follow a symlink.
			return os.Link(u.path(first), target)
		}
		u.links[n] = name
		u.advance()
		if mode.Type() == fs.ModeSymlink {
			dest, err := u.rd.ReadLink(name)
			if err != nil {
				return err
			}
			return os.Symlink(dest, target)
		}
		return u.file(name, target, info)
	default:
		return fmt.Errorf("%s: %v: device nodes, FIFOs and sockets are not unpacked", name, mode.Type())
	}
}

// file writes a regular file, leaving holes for runs of zeros.
func (u *unpacker) file(name, target string, info fs.FileInfo) error {
	src, err := u.rd.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	// O_EXCL fails on any existing entry, a symlink included.
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if u.buf == nil {
		u.buf = make([]byte, 128<<10)
	}
	var size int64
	for {
		n, rerr := io.ReadFull(src, u.buf)
		if n > 0 {
			chunk := u.buf[:n]
			if isZero(chunk) {
				_, err = f.Seek(int64(n), io.SeekCurrent)
			} else {
				_, err = f.Write(chunk)
			}
			if err != nil {
				f.Close()
				return err
			}
			size += int64(n)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			f.Close()
			return rerr
		}
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(unpackedMode(info.Mode())); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(target, time.Time{}, info.ModTime())
}

// advance counts one more inode for progress, as its writing begins.
func (u *unpacker) advance() {
	u.done++
	if u.progress != nil {
		u.progress(u.done, u.inodes)
	}
}

// finish gives a directory its mode and modification time.
func (u *unpacker) finish(name string, info fs.FileInfo) error {
	target := u.path(name)
	if err := os.Chmod(target, unpackedMode(info.Mode())); err != nil {
		return err
	}
	return os.Chtimes(target, time.Time{}, info.ModTime())
}

func (u *unpacker) path(name string) string {
	return filepath.Join(u.dst, filepath.FromSlash(name))
}

// unpackedMode keeps the permission bits and the sticky bit: setuid and
// setgid files have no business in a runtime image.
func unpackedMode(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSticky)
}

func inodeNumber(info fs.FileInfo) uint32 {
	if in, ok := info.Sys().(*squashfs.InodeInfo); ok {
		return in.Number
	}
	return 0
}

func isZero(b []byte) bool {
	return len(b) > 0 && b[0] == 0 && bytes.Equal(b[:len(b)-1], b[1:])
}
