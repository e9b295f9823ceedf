package squashfs

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// inodeState is what writing the image learns about one inode.
type inodeState struct {
	number  uint32
	nlink   uint32
	ref     uint64 // inode table block << 16 | offset, once written
	written bool
	data    *fileData
}

// imageWriter lays out one image from a Builder's tree.
type imageWriter struct {
	opts   Options
	root   *inode
	states map[*inode]*inodeState
	// order lists the inodes in the order their records are written:
	// subdirectories first, then a directory's other children, then the
	// directory itself. Inode numbers follow it, so the root is last.
	order []*inode

	inodes *metadataWriter
	dirs   *metadataWriter
}

// WriteTo writes the image to w and returns the number of bytes written,
// padded to a multiple of 4 KiB like mksquashfs. If w is an io.WriteSeeker
// the image is written in place starting at its current offset; otherwise
// it is assembled in memory first. Host files are read now.
func (b *Builder) WriteTo(w io.Writer) (int64, error) {
	if ws, ok := w.(io.WriteSeeker); ok {
		if base, err := ws.Seek(0, io.SeekCurrent); err == nil {
			return b.writeImage(ws, base)
		}
	}
	var buf seekBuffer
	if _, err := b.writeImage(&buf, 0); err != nil {
		return 0, err
	}
	n, err := w.Write(buf.b)
	return int64(n), err
}

func (b *Builder) writeImage(ws io.WriteSeeker, base int64) (int64, error) {
	iw := &imageWriter{opts: b.opts, root: b.root, states: map[*inode]*inodeState{}}
	iw.countLinks(b.root)
	iw.number(b.root)

	newCompressor, err := newCompressorFactory(b.opts)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(ws, 1<<20)
	if _, err := bw.Write(make([]byte, superblockSize)); err != nil {
		return 0, err
	}
	end, frags, err := iw.writeData(bw, newCompressor)
	if err != nil {
		return 0, err
	}

	comp := newCompressor()
	iw.inodes = newMetadataWriter(comp)
	iw.dirs = newMetadataWriter(comp)
	iw.writeDir(b.root, uint32(len(iw.order))+1)
	rootRef := iw.states[b.root].ref

	sb := superblock{
		inodeCount:       uint32(len(iw.order)),
		blockSize:        uint32(b.opts.BlockSize),
		fragmentCount:    uint32(len(frags)),
		compressionID:    compressionIDZstd,
		blockLog:         b.opts.blockLog(),
		flags:            flagAlwaysFragments | flagDuplicates | flagNoXattrs,
		idCount:          1,
		rootInode:        rootRef,
		xattrTableStart:  invalidTable,
		exportTableStart: invalidTable,
	}
	switch b.opts.Compression {
	case Gzip:
		sb.compressionID = compressionIDGzip
	case None:
		sb.compressionID = compressionIDGzip
		sb.flags |= flagUncompressedInodes | flagUncompressedData | flagUncompressedFragments | flagUncompressedXattrs | flagUncompressedIDs
	}

	// The tables follow the data in the order the kernel's sanity checks
	// expect: inodes, directories, fragments, ids.
	pos := end
	write := func(p []byte) {
		if err == nil {
			_, err = bw.Write(p)
		}
		pos += uint64(len(p))
	}
	sb.inodeTableStart = pos
	write(iw.inodes.finish())
	sb.directoryTableStart = pos
	write(iw.dirs.finish())

	fragTable := newMetadataWriter(comp)
	var e [fragmentEntrySize]byte
	for _, f := range frags {
		binary.LittleEndian.PutUint64(e[0:], f.start)
		binary.LittleEndian.PutUint32(e[8:], f.size)
		fragTable.write(e[:])
	}
	sb.fragmentTableStart = writeLookupTable(fragTable, &pos, write)

	idTable := newMetadataWriter(comp)
	idTable.write([]byte{0, 0, 0, 0}) // the single id, root
	sb.idTableStart = writeLookupTable(idTable, &pos, write)
	sb.bytesUsed = pos
	if pad := -pos % 4096; pad != 0 {
		write(make([]byte, pad))
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return 0, err
	}
	// Every offset so far counts from the start of the image.
	if _, err := ws.Seek(base, io.SeekStart); err != nil {
		return 0, err
	}
	if _, err := ws.Write(sb.marshal()); err != nil {
		return 0, err
	}
	if _, err := ws.Seek(base+int64(pos), io.SeekStart); err != nil {
		return 0, err
	}
	return int64(pos), nil
}

// writeLookupTable writes a table's metadata blocks followed by the list of
// their image offsets, and returns the offset of that list, which is what
// the superblock points at.
func writeLookupTable(m *metadataWriter, pos *uint64, write func([]byte)) uint64 {
	start := *pos
	write(m.finish())
	index := make([]byte, 0, 8*len(m.blockStarts))
	for _, s := range m.blockStarts {
		index = binary.LittleEndian.AppendUint64(index, start+uint64(s))
	}
	listStart := *pos
	write(index)
	return listStart
}

func sortedNames(dir *inode) []string {
	names := make([]string, 0, len(dir.children))
	for name := range dir.children {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (iw *imageWriter) state(n *inode) *inodeState {
	s := iw.states[n]
	if s == nil {
		s = &inodeState{}
		iw.states[n] = s
	}
	return s
}

// countLinks sets the link count of every inode: directory entries for
// files and symlinks, 2 plus subdirectories for directories.
func (iw *imageWriter) countLinks(dir *inode) {
	s := iw.state(dir)
	s.nlink = 2
	for _, c := range dir.children {
		if c.kind == kindDir {
			s.nlink++
			iw.countLinks(c)
		} else {
			iw.state(c).nlink++
		}
	}
}

// number fixes the order inode records are written in and numbers them
// from 1 in that order.
func (iw *imageWriter) number(dir *inode) {
	names := sortedNames(dir)
	for _, name := range names {
		if c := dir.children[name]; c.kind == kindDir {
			iw.number(c)
		}
	}
	for _, name := range names {
		c := dir.children[name]
		if s := iw.states[c]; c.kind != kindDir && s.number == 0 {
			iw.order = append(iw.order, c)
			s.number = uint32(len(iw.order))
		}
	}
	iw.order = append(iw.order, dir)
	iw.states[dir].number = uint32(len(iw.order))
}

// writeData writes the contents of every file, in inode order, storing
// identical contents once.
func (iw *imageWriter) writeData(bw *bufio.Writer, newCompressor func() compressor) (uint64, []fragmentEntry, error) {
	var files []*inode
	bySize := map[int64]int{}
	for _, n := range iw.order {
		if n.kind == kindFile {
			files = append(files, n)
			bySize[n.size]++
		}
	}
	// Only files sharing their size with another can be duplicates; hash
	// those up front so no block is written twice.
	hashes := map[*inode][sha256.Size]byte{}
	for _, n := range files {
		if n.size > 0 && bySize[n.size] > 1 {
			h, err := hashFile(n)
			if err != nil {
				return 0, nil, err
			}
			hashes[n] = h
		}
	}
	d := newDataWriter(bw, superblockSize, iw.opts, newCompressor)
	if progress := iw.opts.Progress; progress != nil {
		var done, total int64
		for _, n := range files {
			total += n.size
		}
		d.read = func(n int64) {
			done += n
			progress(done, total)
		}
	}
	seen := map[[sha256.Size]byte]*fileData{}
	for _, n := range files {
		h, hashed := hashes[n]
		if fd := seen[h]; hashed && fd != nil {
			iw.states[n].data = fd
			d.read(n.size)
			continue
		}
		fd, err := d.addFile(n)
		if err != nil {
			d.abort()
			return 0, nil, err
		}
		if hashed {
			seen[h] = fd
		}
		iw.states[n].data = fd
	}
	return d.close()
}

func hashFile(n *inode) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	r, name, err := n.openData()
	if err != nil {
		return sum, err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(r, n.size)); err != nil {
		return sum, fmt.Errorf("reading %s: %w", name, err)
	}
	h.Sum(sum[:0])
	return sum, nil
}

// inodeHeader appends the fields every inode starts with: owner root,
// mtime 0.
func inodeHeader(b []byte, typ, perm uint16, number uint32) []byte {
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = binary.LittleEndian.AppendUint16(b, perm)
	b = binary.LittleEndian.AppendUint16(b, 0) // uid index
	b = binary.LittleEndian.AppendUint16(b, 0) // gid index
	b = binary.LittleEndian.AppendUint32(b, 0) // mtime
	return binary.LittleEndian.AppendUint32(b, number)
}

// writeInode appends n's record to the inode table and remembers where.
func (iw *imageWriter) writeInode(n *inode, record []byte) {
	block, offset := iw.inodes.position()
	s := iw.states[n]
	s.ref = uint64(block)<<16 | uint64(offset)
	s.written = true
	iw.inodes.write(record)
}

func (iw *imageWriter) writeFile(n *inode) {
	s := iw.states[n]
	fd := s.data
	var b []byte
	if s.nlink > 1 || fd.sparse > 0 || fd.start > 0xffffffff || n.size > 0xffffffff {
		b = inodeHeader(b, inodeTypeExtFile, n.perm, s.number)
		b = binary.LittleEndian.AppendUint64(b, fd.start)
		b = binary.LittleEndian.AppendUint64(b, uint64(n.size))
		b = binary.LittleEndian.AppendUint64(b, fd.sparse)
		b = binary.LittleEndian.AppendUint32(b, s.nlink)
		b = binary.LittleEndian.AppendUint32(b, fd.fragment)
		b = binary.LittleEndian.AppendUint32(b, fd.fragmentOffset)
		b = binary.LittleEndian.AppendUint32(b, invalidXattr)
	} else {
		b = inodeHeader(b, inodeTypeFile, n.perm, s.number)
		b = binary.LittleEndian.AppendUint32(b, uint32(fd.start))
		b = binary.LittleEndian.AppendUint32(b, fd.fragment)
		b = binary.LittleEndian.AppendUint32(b, fd.fragmentOffset)
		b = binary.LittleEndian.AppendUint32(b, uint32(n.size))
	}
	for _, size := range fd.sizes {
		b = binary.LittleEndian.AppendUint32(b, size)
	}
	iw.writeInode(n, b)
}

func (iw *imageWriter) writeSymlink(n *inode) {
	s := iw.states[n]
	b := inodeHeader(nil, inodeTypeSymlink, n.perm, s.number)
	b = binary.LittleEndian.AppendUint32(b, s.nlink)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(n.target)))
	b = append(b, n.target...)
	iw.writeInode(n, b)
}

// dirIndex is one entry of an extended directory inode's index: the
// directory header at byte offset index of the listing, in the metadata
// block at start of the directory table, begins with name.
type dirIndex struct {
	index, start uint32
	name         string
}

// writeDir writes the records of dir's subtree, in the order number chose.
func (iw *imageWriter) writeDir(dir *inode, parent uint32) {
	s := iw.states[dir]
	names := sortedNames(dir)
	for _, name := range names {
		if c := dir.children[name]; c.kind == kindDir {
			iw.writeDir(c, s.number)
		}
	}
	for _, name := range names {
		c := dir.children[name]
		if cs := iw.states[c]; c.kind != kindDir && !cs.written {
			if c.kind == kindFile {
				iw.writeFile(c)
			} else {
				iw.writeSymlink(c)
			}
		}
	}

	block, offset := iw.dirs.position()
	start := iw.dirs.uncompressedPosition()
	var index []dirIndex
	for _, r := range iw.planRuns(dir, names, start) {
		if r.indexed {
			p := iw.dirs.uncompressedPosition()
			blockStart, _ := iw.dirs.position()
			index = append(index, dirIndex{index: uint32(p - start), start: blockStart, name: names[r.from]})
		}
		var b []byte
		b = binary.LittleEndian.AppendUint32(b, uint32(r.to-r.from-1))
		b = binary.LittleEndian.AppendUint32(b, r.block)
		b = binary.LittleEndian.AppendUint32(b, r.number)
		for _, name := range names[r.from:r.to] {
			c := dir.children[name]
			cs := iw.states[c]
			b = binary.LittleEndian.AppendUint16(b, uint16(cs.ref&0xffff))
			b = binary.LittleEndian.AppendUint16(b, uint16(int16(int64(cs.number)-int64(r.number))))
			b = binary.LittleEndian.AppendUint16(b, basicType(c.kind))
			b = binary.LittleEndian.AppendUint16(b, uint16(len(name)-1))
			b = append(b, name...)
		}
		iw.dirs.write(b)
	}
	size := iw.dirs.uncompressedPosition() - start + dirSizeBias

	var b []byte
	if size > 0xffff || len(index) > 0 {
		b = inodeHeader(b, inodeTypeExtDir, dir.perm, s.number)
		b = binary.LittleEndian.AppendUint32(b, s.nlink)
		b = binary.LittleEndian.AppendUint32(b, uint32(size))
		b = binary.LittleEndian.AppendUint32(b, block)
		b = binary.LittleEndian.AppendUint32(b, parent)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(index)))
		b = binary.LittleEndian.AppendUint16(b, offset)
		b = binary.LittleEndian.AppendUint32(b, invalidXattr)
		for _, x := range index {
			b = binary.LittleEndian.AppendUint32(b, x.index)
			b = binary.LittleEndian.AppendUint32(b, x.start)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(x.name)-1))
			b = append(b, x.name...)
		}
	} else {
		b = inodeHeader(b, inodeTypeDir, dir.perm, s.number)
		b = binary.LittleEndian.AppendUint32(b, block)
		b = binary.LittleEndian.AppendUint32(b, s.nlink)
		b = binary.LittleEndian.AppendUint16(b, uint16(size))
		b = binary.LittleEndian.AppendUint16(b, offset)
		b = binary.LittleEndian.AppendUint32(b, parent)
	}
	iw.writeInode(dir, b)
}

// dirRun is a run of directory entries names[from:to] behind one header:
// their inodes share the metadata block at block of the inode table and
// have numbers within a 16-bit delta of number.
type dirRun struct {
	from, to      int
	block, number uint32
	// indexed is set for the first header starting in a new metadata block
	// of the directory table.
	indexed bool
}

// planRuns splits a listing starting at uncompressed table position start
// into runs. A run ends after 256 entries, when the next entry's inode is
// in another metadata block or too far in number for the delta, and when
// the listing crosses into a new metadata block: the header starting there
// is indexed, so lookups can skip the blocks before it.
func (iw *imageWriter) planRuns(dir *inode, names []string, start uint64) []dirRun {
	var runs []dirRun
	p := start
	lastIndexed := start / metadataBlockSize
	for i, name := range names {
		cs := iw.states[dir.children[name]]
		block := uint32(cs.ref >> 16)
		newBlock := p/metadataBlockSize != lastIndexed
		if n := len(runs); n == 0 || newBlock || i-runs[n-1].from == dirHeaderMaxEntries || block != runs[n-1].block ||
			int64(cs.number)-int64(runs[n-1].number) < -32768 || int64(cs.number)-int64(runs[n-1].number) > 32767 {
			if n > 0 {
				runs[n-1].to = i
			}
			if newBlock {
				lastIndexed = p / metadataBlockSize
			}
			runs = append(runs, dirRun{from: i, block: block, number: cs.number, indexed: newBlock})
			p += dirHeaderSize
		}
		p += dirEntrySize + uint64(len(name))
	}
	if n := len(runs); n > 0 {
		runs[n-1].to = len(names)
	}
	return runs
}

func basicType(k inodeKind) uint16 {
	switch k {
	case kindDir:
		return inodeTypeDir
	case kindFile:
		return inodeTypeFile
	}
	return inodeTypeSymlink
}
