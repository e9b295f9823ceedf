package squashfs

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// ErrInvalidImage is returned by NewReader and the Reader's methods for
// data that is not a well-formed SquashFS 4.0 image, or uses a compressor
// other than gzip and zstd.
var ErrInvalidImage = errors.New("invalid squashfs image")

// Reader reads a SquashFS 4.0 image as an fs.FS. It reads images written
// by this package and by mksquashfs with gzip, zstd or no compression; it
// ignores xattrs and export tables. Open does not follow symlinks: an
// image's symlinks usually point into the root a runtime is chrooted to,
// not into the image. A Reader is safe for concurrent use.
//
// A Reader may be given a hostile image: malformed data yields
// ErrInvalidImage, never a panic, and the memory it holds is bounded
// whatever the image declares: file contents and block lists are read as
// they are needed, the caches are capped, and directory listings larger
// than maxDirListing are refused. Directory entries named "", ".", ".."
// or containing '/' or NUL are refused too, so every name a Reader
// returns is a single path component, as are listings not sorted by name
// (with a name twice), which the format forbids.
type Reader struct {
	r         io.ReaderAt
	sb        superblock
	blockSize int
	zstd      *zstd.Decoder
	root      *parsedInode

	mu            sync.Mutex
	metadata      map[uint64]metadataBlock
	metadataBytes int
	dirs          map[dirKey][]dirEntry
	dirBytes      int
}

// Caps on what a Reader keeps and accepts, so that a hostile image cannot
// make it allocate without bound.
const (
	// maxCachedMetadata caps the decompressed metadata blocks kept; past
	// it the cache starts over.
	maxCachedMetadata = 16 << 20
	// maxCachedDirs caps the (approximate) bytes of cached listings.
	maxCachedDirs = 16 << 20
	// maxDirListing caps the size of one directory listing, a few
	// hundred thousand entries.
	maxDirListing = 8 << 20
	// readFileChunk caps what ReadFile allocates before any data arrives.
	readFileChunk = 16 << 20
)

// InodeInfo is what the Sys method of a Reader's fs.FileInfo returns.
type InodeInfo struct {
	// Number is the inode number; hard links share it.
	Number uint32
	// Nlink is the link count.
	Nlink uint32
}

type metadataBlock struct {
	data []byte
	next uint64 // image offset of the following block
}

// parsedInode is an inode as read from the inode table.
type parsedInode struct {
	typ        uint16 // basic type: 1 dir, 2 file, 3 symlink, 4-7 special
	perm       uint16
	mtime      uint32
	number     uint32
	nlink      uint32
	size       uint64
	start      uint64 // file: image offset of blocks; dir: directory table block
	offset     uint32 // dir: offset in that block
	fragment   uint32
	fragOffset uint32
	// blockList is where the file's list of block sizes starts in the
	// inode table; nblocks is its length. The list is read as the file
	// is, so that its declared length cannot force an allocation.
	blockList metadataPos
	nblocks   uint64
	target    string
}

// metadataPos is a position in a metadata table: the image offset of a
// metadata block and an offset in its decompressed data.
type metadataPos struct {
	block uint64
	off   int
}

// NewReader reads the superblock, root inode and fragment table of the
// image in r.
func NewReader(r io.ReaderAt) (*Reader, error) {
	var b [superblockSize]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return nil, fmt.Errorf("%w: reading the superblock: %v", ErrInvalidImage, err)
	}
	le := binary.LittleEndian
	sb := superblock{
		inodeCount: le.Uint32(b[4:]), blockSize: le.Uint32(b[12:]), fragmentCount: le.Uint32(b[16:]),
		compressionID: le.Uint16(b[20:]), blockLog: le.Uint16(b[22:]), flags: le.Uint16(b[24:]),
		idCount: le.Uint16(b[26:]), rootInode: le.Uint64(b[32:]), bytesUsed: le.Uint64(b[40:]),
		idTableStart: le.Uint64(b[48:]), xattrTableStart: le.Uint64(b[56:]), inodeTableStart: le.Uint64(b[64:]),
		directoryTableStart: le.Uint64(b[72:]), fragmentTableStart: le.Uint64(b[80:]), exportTableStart: le.Uint64(b[88:]),
	}
	if le.Uint32(b[0:]) != magic || le.Uint16(b[28:]) != versionMajor || le.Uint16(b[30:]) != versionMinor {
		return nil, fmt.Errorf("%w: no SquashFS 4.0 superblock", ErrInvalidImage)
	}
	if sb.blockSize < minBlockSize || sb.blockSize > maxBlockSize || 1<<sb.blockLog != sb.blockSize {
		return nil, fmt.Errorf("%w: block size %d, log %d", ErrInvalidImage, sb.blockSize, sb.blockLog)
	}
	rd := &Reader{r: r, sb: sb, blockSize: int(sb.blockSize), metadata: map[uint64]metadataBlock{}, dirs: map[dirKey][]dirEntry{}}
	// The fragment index must lie within the image.
	if sb.fragmentCount > 0 {
		if _, err := rd.fragmentIndex(sb.fragmentCount - 1); err != nil {
			return nil, err
		}
	}
	switch sb.compressionID {
	case compressionIDGzip:
	case compressionIDZstd:
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxWindow(maxBlockSize),
			zstd.WithDecoderMaxMemory(maxBlockSize))
		if err != nil {
			return nil, err
		}
		rd.zstd = dec
	default:
		return nil, fmt.Errorf("%w: unsupported compressor id %d", ErrInvalidImage, sb.compressionID)
	}
	root, err := rd.readInode(sb.rootInode)
	if err != nil {
		return nil, err
	}
	if root.typ != inodeTypeDir {
		return nil, fmt.Errorf("%w: root inode is of type %d", ErrInvalidImage, root.typ)
	}
	rd.root = root
	return rd, nil
}

func (rd *Reader) decompress(src []byte, limit int) ([]byte, error) {
	var out []byte
	var err error
	if rd.zstd != nil {
		out, err = rd.zstd.DecodeAll(src, make([]byte, 0, limit))
	} else {
		var zr io.ReadCloser
		if zr, err = zlib.NewReader(bytes.NewReader(src)); err == nil {
			out, err = io.ReadAll(io.LimitReader(zr, int64(limit)+1))
			zr.Close()
		}
	}
	if err == nil && len(out) > limit {
		err = fmt.Errorf("block inflates past %d bytes", limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidImage, err)
	}
	return out, nil
}

// metadataBlock returns the decompressed metadata block at image offset at.
func (rd *Reader) metadataBlock(at uint64) (metadataBlock, error) {
	rd.mu.Lock()
	m, ok := rd.metadata[at]
	rd.mu.Unlock()
	if ok {
		return m, nil
	}
	var h [2]byte
	if _, err := rd.r.ReadAt(h[:], int64(at)); err != nil {
		return m, fmt.Errorf("%w: metadata block at %d: %v", ErrInvalidImage, at, err)
	}
	header := binary.LittleEndian.Uint16(h[:])
	size := int(header &^ metadataUncompressed)
	if size == 0 || size > metadataBlockSize {
		return m, fmt.Errorf("%w: metadata block at %d has size %d", ErrInvalidImage, at, size)
	}
	data := make([]byte, size)
	if _, err := rd.r.ReadAt(data, int64(at)+2); err != nil {
		return m, fmt.Errorf("%w: metadata block at %d: %v", ErrInvalidImage, at, err)
	}
	if header&metadataUncompressed == 0 {
		var err error
		if data, err = rd.decompress(data, metadataBlockSize); err != nil {
			return m, err
		}
	}
	m = metadataBlock{data: data, next: at + 2 + uint64(size)}
	rd.mu.Lock()
	if rd.metadataBytes+len(data) > maxCachedMetadata {
		clear(rd.metadata)
		rd.metadataBytes = 0
	}
	rd.metadata[at] = m
	rd.metadataBytes += len(data)
	rd.mu.Unlock()
	return m, nil
}

// metadataCursor reads a metadata table sequentially across blocks.
type metadataCursor struct {
	rd    *Reader
	at    uint64 // image offset of block
	block metadataBlock
	off   int
}

func (rd *Reader) cursor(at uint64, off int) (*metadataCursor, error) {
	b, err := rd.metadataBlock(at)
	if err != nil {
		return nil, err
	}
	if off > len(b.data) {
		return nil, fmt.Errorf("%w: offset %d past metadata block at %d", ErrInvalidImage, off, at)
	}
	return &metadataCursor{rd: rd, at: at, block: b, off: off}, nil
}

func (c *metadataCursor) read(n int) ([]byte, error) {
	out := make([]byte, 0, n)
	for len(out) < n {
		if c.off == len(c.block.data) {
			b, err := c.rd.metadataBlock(c.block.next)
			if err != nil {
				return nil, err
			}
			c.at, c.block, c.off = c.block.next, b, 0
		}
		k := min(n-len(out), len(c.block.data)-c.off)
		out = append(out, c.block.data[c.off:c.off+k]...)
		c.off += k
	}
	return out, nil
}

// fragmentIndex returns the image offset of the metadata block holding
// fragment entry i.
func (rd *Reader) fragmentIndex(i uint32) (uint64, error) {
	const perBlock = metadataBlockSize / fragmentEntrySize
	var b [8]byte
	at := rd.sb.fragmentTableStart + 8*uint64(i/perBlock)
	if _, err := rd.r.ReadAt(b[:], int64(at)); err != nil || at > math.MaxInt64 {
		return 0, fmt.Errorf("%w: fragment index at %d: %v", ErrInvalidImage, at, err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// fragment returns entry i of the fragment table.
func (rd *Reader) fragment(i uint32) (fragmentEntry, error) {
	if i >= rd.sb.fragmentCount {
		return fragmentEntry{}, fmt.Errorf("%w: fragment %d of %d", ErrInvalidImage, i, rd.sb.fragmentCount)
	}
	const perBlock = metadataBlockSize / fragmentEntrySize
	block, err := rd.fragmentIndex(i)
	if err != nil {
		return fragmentEntry{}, err
	}
	c, err := rd.cursor(block, int(i%perBlock)*fragmentEntrySize)
	if err != nil {
		return fragmentEntry{}, err
	}
	b, err := c.read(fragmentEntrySize)
	if err != nil {
		return fragmentEntry{}, err
	}
	return fragmentEntry{start: binary.LittleEndian.Uint64(b), size: binary.LittleEndian.Uint32(b[8:])}, nil
}

// readInode parses the inode at reference ref (block << 16 | offset).
func (rd *Reader) readInode(ref uint64) (*parsedInode, error) {
	c, err := rd.cursor(rd.sb.inodeTableStart+ref>>16, int(ref&0xffff))
	if err != nil {
		return nil, err
	}
	h, err := c.read(16)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	in := &parsedInode{perm: le.Uint16(h[2:]), mtime: le.Uint32(h[8:]), number: le.Uint32(h[12:]), nlink: 1, fragment: invalidFragment}
	typ := le.Uint16(h[0:])
	field := func(n int) ([]byte, error) { return c.read(n) }
	switch typ {
	case inodeTypeDir:
		b, err := field(16)
		if err != nil {
			return nil, err
		}
		in.typ = inodeTypeDir
		in.start, in.nlink = uint64(le.Uint32(b[0:])), le.Uint32(b[4:])
		in.size, in.offset = uint64(le.Uint16(b[8:])), uint32(le.Uint16(b[10:]))
	case inodeTypeExtDir:
		b, err := field(24)
		if err != nil {
			return nil, err
		}
		in.typ = inodeTypeDir
		in.nlink, in.size, in.start = le.Uint32(b[0:]), uint64(le.Uint32(b[4:])), uint64(le.Uint32(b[8:]))
		in.offset = uint32(le.Uint16(b[18:]))
		// The index only speeds up lookups; the listing is read in full.
	case inodeTypeFile, inodeTypeExtFile:
		in.typ = inodeTypeFile
		if typ == inodeTypeFile {
			b, err := field(16)
			if err != nil {
				return nil, err
			}
			in.start, in.fragment = uint64(le.Uint32(b[0:])), le.Uint32(b[4:])
			in.fragOffset, in.size = le.Uint32(b[8:]), uint64(le.Uint32(b[12:]))
		} else {
			b, err := field(40)
			if err != nil {
				return nil, err
			}
			in.start, in.size = le.Uint64(b[0:]), le.Uint64(b[8:])
			in.nlink, in.fragment, in.fragOffset = le.Uint32(b[24:]), le.Uint32(b[28:]), le.Uint32(b[32:])
		}
		if in.size > math.MaxInt64 {
			return nil, fmt.Errorf("%w: file of %d bytes", ErrInvalidImage, in.size)
		}
		in.nblocks = in.size / uint64(rd.blockSize)
		if in.fragment == invalidFragment && in.size%uint64(rd.blockSize) != 0 {
			in.nblocks++
		}
		in.blockList = metadataPos{c.at, c.off}
	case inodeTypeSymlink, inodeTypeExtSymlink:
		b, err := field(8)
		if err != nil {
			return nil, err
		}
		in.typ = inodeTypeSymlink
		in.nlink, in.size = le.Uint32(b[0:]), uint64(le.Uint32(b[4:]))
		if in.size > maxSymlinkLen {
			return nil, fmt.Errorf("%w: symlink target of %d bytes", ErrInvalidImage, in.size)
		}
		t, err := field(int(in.size))
		if err != nil {
			return nil, err
		}
		in.target = string(t)
	case 4, 5, 6, 7, 11, 12, 13, 14:
		// Devices, FIFOs and sockets: only their type and mode matter here.
		in.typ = (typ-1)%7 + 1
	default:
		return nil, fmt.Errorf("%w: inode of type %d", ErrInvalidImage, typ)
	}
	return in, nil
}

// dirKey identifies a directory listing.
type dirKey struct {
	start  uint64
	offset uint32
	size   uint64
}

// dirEntry is one entry of a directory listing.
type dirEntry struct {
	name string
	typ  uint16
	ref  uint64
}

// readDir returns the sorted listing of dir; listings are cached, since
// every lookup reads one per path component.
func (rd *Reader) readDir(dir *parsedInode) ([]dirEntry, error) {
	// Empty directories share their position with the next listing, so
	// the size is part of the key.
	key := dirKey{dir.start, dir.offset, dir.size}
	rd.mu.Lock()
	entries, ok := rd.dirs[key]
	rd.mu.Unlock()
	if ok {
		return entries, nil
	}
	entries, err := rd.parseDir(dir)
	if err != nil {
		return nil, err
	}
	size := int(dir.size) + 32*len(entries)
	rd.mu.Lock()
	if rd.dirBytes+size > maxCachedDirs {
		clear(rd.dirs)
		rd.dirBytes = 0
	}
	rd.dirs[key] = entries
	rd.dirBytes += size
	rd.mu.Unlock()
	return entries, nil
}

func (rd *Reader) parseDir(dir *parsedInode) ([]dirEntry, error) {
	if dir.size < dirSizeBias || dir.size > maxDirListing {
		return nil, fmt.Errorf("%w: directory of size %d", ErrInvalidImage, dir.size)
	}
	remaining := int(dir.size - dirSizeBias)
	if remaining == 0 {
		return nil, nil
	}
	c, err := rd.cursor(rd.sb.directoryTableStart+dir.start, int(dir.offset))
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	var entries []dirEntry
	for remaining > 0 {
		h, err := c.read(dirHeaderSize)
		if err != nil {
			return nil, err
		}
		remaining -= dirHeaderSize
		count, block := int(le.Uint32(h[0:]))+1, uint64(le.Uint32(h[4:]))
		if count > dirHeaderMaxEntries {
			return nil, fmt.Errorf("%w: directory header of %d entries", ErrInvalidImage, count)
		}
		for range count {
			e, err := c.read(dirEntrySize)
			if err != nil {
				return nil, err
			}
			n := int(le.Uint16(e[6:])) + 1
			name, err := c.read(n)
			if err != nil {
				return nil, err
			}
			remaining -= dirEntrySize + n
			if !validName(name) {
				return nil, fmt.Errorf("%w: directory entry named %q", ErrInvalidImage, name)
			}
			// lookup searches listings by bisection, and the format
			// sorts them: an unsorted listing (or a name twice) would
			// hide entries from Open that ReadDir shows.
			if len(entries) > 0 && entries[len(entries)-1].name >= string(name) {
				return nil, fmt.Errorf("%w: directory entry %q after %q: listing not sorted", ErrInvalidImage, name, entries[len(entries)-1].name)
			}
			entries = append(entries, dirEntry{name: string(name), typ: le.Uint16(e[4:]), ref: block<<16 | uint64(le.Uint16(e[0:]))})
		}
	}
	if remaining != 0 {
		return nil, fmt.Errorf("%w: directory listing overruns its size", ErrInvalidImage)
	}
	return entries, nil
}

// validName reports whether a directory entry's name is one path
// component.
func validName(name []byte) bool {
	s := string(name)
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// lookup returns the inode at name without following symlinks.
func (rd *Reader) lookup(op, name string) (*parsedInode, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	in := rd.root
	if name == "." {
		return in, nil
	}
	for _, c := range strings.Split(name, "/") {
		if in.typ != inodeTypeDir {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		entries, err := rd.readDir(in)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		i, found := slices.BinarySearchFunc(entries, c, func(e dirEntry, c string) int { return strings.Compare(e.name, c) })
		if !found {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if in, err = rd.readInode(entries[i].ref); err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
	}
	return in, nil
}

// Open opens the named file, directory or symlink. Reading a symlink
// fails; use ReadLink.
func (rd *Reader) Open(name string) (fs.File, error) {
	in, err := rd.lookup("open", name)
	if err != nil {
		return nil, err
	}
	return &openFile{rd: rd, info: fileInfo{name: path.Base(name), in: in}}, nil
}

// InodeCount is the number of inodes the superblock declares: every
// directory, file and symlink once, however many names it has. A damaged
// image may declare any number.
func (rd *Reader) InodeCount() uint32 { return rd.sb.inodeCount }

// Stat returns the FileInfo of name, not following symlinks.
func (rd *Reader) Stat(name string) (fs.FileInfo, error) {
	in, err := rd.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return fileInfo{name: path.Base(name), in: in}, nil
}

// Lstat is Stat; it makes Reader an fs.ReadLinkFS.
func (rd *Reader) Lstat(name string) (fs.FileInfo, error) { return rd.Stat(name) }

// ReadLink returns the target of the symlink name.
func (rd *Reader) ReadLink(name string) (string, error) {
	in, err := rd.lookup("readlink", name)
	if err != nil {
		return "", err
	}
	if in.typ != inodeTypeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return in.target, nil
}

// ReadDir returns the entries of the directory name, sorted by name.
func (rd *Reader) ReadDir(name string) ([]fs.DirEntry, error) {
	in, err := rd.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	return rd.dirEntries(name, in)
}

func (rd *Reader) dirEntries(name string, in *parsedInode) ([]fs.DirEntry, error) {
	if in.typ != inodeTypeDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	entries, err := rd.readDir(in)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, len(entries))
	for i, e := range entries {
		child, err := rd.readInode(e.ref)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
		out[i] = fs.FileInfoToDirEntry(fileInfo{name: e.name, in: child})
	}
	return out, nil
}

// ReadFile returns the contents of the regular file name.
func (rd *Reader) ReadFile(name string) ([]byte, error) {
	in, err := rd.lookup("read", name)
	if err != nil {
		return nil, err
	}
	if in.typ != inodeTypeFile {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("not a regular file")}
	}
	b, err := rd.contents(in)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

// dataBlock reads and decompresses the data block with size word size at
// image offset at.
func (rd *Reader) dataBlock(at uint64, size uint32, want int) ([]byte, error) {
	if size == 0 {
		return make([]byte, want), nil
	}
	stored := int(size &^ dataUncompressed)
	if stored > rd.blockSize {
		return nil, fmt.Errorf("%w: data block of %d bytes", ErrInvalidImage, stored)
	}
	b := make([]byte, stored)
	if _, err := rd.r.ReadAt(b, int64(at)); err != nil {
		return nil, fmt.Errorf("%w: data block at %d: %v", ErrInvalidImage, at, err)
	}
	if size&dataUncompressed == 0 {
		return rd.decompress(b, rd.blockSize)
	}
	return b, nil
}

func (rd *Reader) contents(in *parsedInode) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, min(in.size, readFileChunk)))
	if _, err := io.Copy(buf, &fileReader{rd: rd, in: in}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fileReader reads a regular file's contents block by block.
type fileReader struct {
	rd   *Reader
	in   *parsedInode
	list *metadataCursor // block sizes; nil until the first read
	next uint64          // index of the next block
	at   uint64          // image offset of the next block
	read uint64          // bytes of the file produced so far
	buf  []byte          // the rest of the current block
}

func (f *fileReader) Read(p []byte) (int, error) {
	for len(f.buf) == 0 {
		b, err := f.nextBlock()
		if err != nil {
			return 0, err
		}
		f.buf = b
	}
	n := copy(p, f.buf)
	f.buf = f.buf[n:]
	return n, nil
}

// nextBlock returns the next data block, the fragment tail after the last
// one, then io.EOF.
func (f *fileReader) nextBlock() ([]byte, error) {
	rd, in := f.rd, f.in
	if f.next < in.nblocks {
		if f.list == nil {
			c, err := rd.cursor(in.blockList.block, in.blockList.off)
			if err != nil {
				return nil, err
			}
			f.list, f.at = c, in.start
		}
		w, err := f.list.read(4)
		if err != nil {
			return nil, err
		}
		size := binary.LittleEndian.Uint32(w)
		want := int(min(uint64(rd.blockSize), in.size-f.read))
		b, err := rd.dataBlock(f.at, size, want)
		if err != nil {
			return nil, err
		}
		if len(b) != want {
			return nil, fmt.Errorf("%w: data block of %d bytes, want %d", ErrInvalidImage, len(b), want)
		}
		f.next++
		f.at += uint64(size &^ dataUncompressed)
		f.read += uint64(want)
		return b, nil
	}
	tail := in.size - f.read
	if in.fragment == invalidFragment || tail == 0 {
		if tail != 0 {
			return nil, fmt.Errorf("%w: file has %d of %d bytes", ErrInvalidImage, f.read, in.size)
		}
		return nil, io.EOF
	}
	frag, err := rd.fragment(in.fragment)
	if err != nil {
		return nil, err
	}
	b, err := rd.dataBlock(frag.start, frag.size, rd.blockSize)
	if err != nil {
		return nil, err
	}
	if uint64(in.fragOffset)+tail > uint64(len(b)) {
		return nil, fmt.Errorf("%w: tail past the end of fragment %d", ErrInvalidImage, in.fragment)
	}
	f.read += tail
	return b[in.fragOffset : uint64(in.fragOffset)+tail], nil
}

// fileInfo is the fs.FileInfo of an inode.
type fileInfo struct {
	name string
	in   *parsedInode
}

func (fi fileInfo) Name() string { return fi.name }

func (fi fileInfo) Size() int64 { return int64(fi.in.size) }

func (fi fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(fi.in.perm & 0o777)
	if fi.in.perm&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if fi.in.perm&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if fi.in.perm&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch fi.in.typ {
	case inodeTypeDir:
		m |= fs.ModeDir
	case inodeTypeSymlink:
		m |= fs.ModeSymlink
	case 4:
		m |= fs.ModeDevice
	case 5:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case 6:
		m |= fs.ModeNamedPipe
	case 7:
		m |= fs.ModeSocket
	}
	return m
}

func (fi fileInfo) ModTime() time.Time { return time.Unix(int64(fi.in.mtime), 0).UTC() }

func (fi fileInfo) IsDir() bool { return fi.in.typ == inodeTypeDir }

func (fi fileInfo) Sys() any { return &InodeInfo{Number: fi.in.number, Nlink: fi.in.nlink} }

// openFile is an fs.File and fs.ReadDirFile of a Reader.
type openFile struct {
	rd      *Reader
	info    fileInfo
	data    *fileReader
	entries []fs.DirEntry
	listed  bool
}

func (f *openFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *openFile) Close() error { return nil }

func (f *openFile) Read(p []byte) (int, error) {
	if f.info.in.typ != inodeTypeFile {
		return 0, &fs.PathError{Op: "read", Path: f.info.name, Err: errors.New("not a regular file")}
	}
	if f.data == nil {
		f.data = &fileReader{rd: f.rd, in: f.info.in}
	}
	n, err := f.data.Read(p)
	if err != nil && err != io.EOF {
		err = &fs.PathError{Op: "read", Path: f.info.name, Err: err}
	}
	return n, err
}

func (f *openFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.listed {
		entries, err := f.rd.dirEntries(f.info.name, f.info.in)
		if err != nil {
			return nil, err
		}
		f.entries, f.listed = entries, true
	}
	if n <= 0 {
		out := f.entries
		f.entries = nil
		return out, nil
	}
	if len(f.entries) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(f.entries))
	out := f.entries[:k]
	f.entries = f.entries[k:]
	return out, nil
}
