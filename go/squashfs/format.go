package squashfs

// On-disk constants of SquashFS 4.0, as defined by the Linux kernel's
// fs/squashfs/squashfs_fs.h. All integers on disk are little-endian.
const (
	magic        = 0x73717368 // "hsqs"
	versionMajor = 4
	versionMinor = 0

	superblockSize = 96

	// metadataBlockSize is the uncompressed size of every metadata block but
	// the last of a table. Directory indexes rely on blocks being full.
	metadataBlockSize = 8192
	// metadataUncompressed marks a metadata block header whose payload is
	// stored as is.
	metadataUncompressed = 1 << 15
	// dataUncompressed marks a data or fragment block size stored as is.
	dataUncompressed = 1 << 24

	compressionIDGzip = 1
	compressionIDZstd = 6

	flagUncompressedInodes    = 0x0001
	flagUncompressedData      = 0x0002
	flagUncompressedFragments = 0x0008
	flagAlwaysFragments       = 0x0020
	flagDuplicates            = 0x0040
	flagUncompressedXattrs    = 0x0100
	flagNoXattrs              = 0x0200
	flagUncompressedIDs       = 0x0800

	invalidTable    = ^uint64(0)
	invalidFragment = ^uint32(0)
	invalidXattr    = ^uint32(0)

	inodeTypeDir        = 1
	inodeTypeFile       = 2
	inodeTypeSymlink    = 3
	inodeTypeExtDir     = 8
	inodeTypeExtFile    = 9
	inodeTypeExtSymlink = 10

	// dirHeaderMaxEntries is the most entries one directory header covers.
	dirHeaderMaxEntries = 256
	dirHeaderSize       = 12
	dirEntrySize        = 8
	// dirSizeBias is added to the size of every directory listing: the
	// kernel counts the "." and ".." entries it synthesizes as 3 bytes.
	dirSizeBias = 3

	fragmentEntrySize = 16

	maxNameLen    = 255
	minBlockSize  = 4 << 10
	maxBlockSize  = 1 << 20
	maxSymlinkLen = 4095
)
