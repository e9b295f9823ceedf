// Package squashfs writes deterministic SquashFS 4.0 images.
//
// A Builder collects a tree from host directories (AddTree), tar archives
// (AddTar) and in-memory entries (AddFile, AddDir, AddSymlink); WriteTo lays it out as an image the
// Linux kernel and squashfs-tools read. The same tree and Options always give
// the same bytes: entries are sorted, every timestamp is 0, every owner is
// root, and data blocks are written in a fixed order even though they are
// compressed in parallel.
//
// The image holds regular files, directories and symlinks; hard links within
// the tree share one inode. Identical file contents are stored once, and file
// tails shorter than a block are packed into fragment blocks. Blocks that are
// all zeros are stored as holes. There are no xattrs and no export table.
//
// Reader reads images (this package's and mksquashfs's, gzip, zstd or
// uncompressed) as an fs.FS, for tests and tools that cannot mount them.
package squashfs
