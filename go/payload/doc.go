// Package payload finds the files an actiond executable carries inside
// itself (the guest kernel, the initramfs, the runtime images) and extracts
// them to disk, so that a user can run one downloaded file with no other
// files and no flags.
//
// # Carriers
//
// A payload reaches the executable in one of three ways, tried in this
// order by [Parse]:
//
//   - ELF: one section per payload named ".actiond.<name>", a non-alloc
//     SHT_PROGBITS section added after linking by cmd/payload_builder
//     (--format=elf). Sections take precedence: an ELF file with at least
//     one such section is not searched for a trailer.
//   - Mach-O: sections "__<name>" in segment "__ACTIOND", added at link
//     time with ld64's -sectcreate before the binary is codesigned (see
//     cmd/payload_builder). Universal (fat) files are not searched.
//   - Trailer: payloads appended to any file (cmd/payload_builder
//     --format=trailer), found by a fixed footer at the very end of the file.
//     It needs no linker support; it breaks a code signature, so Mach-O
//     binaries use sections.
//
// A payload name is 1 to 14 bytes of [a-z0-9_]: Mach-O section names hold
// 16 bytes and the name is prefixed with "__". The names actiond uses are
// [Kernel], [Initramfs] and [Runtimes].
//
// # Blob
//
// Every carrier holds each payload as the same self-describing blob, so
// that reading, checking and extraction are shared: an 80-byte header,
// all integers little-endian, followed by the stored data.
//
//	offset size
//	0      8    magic "ACTDPAYL"
//	8      2    format version, 1
//	10     2    compression: 0 none, 1 zstd (frames with a window of at most 16 MiB)
//	12     4    reserved, 0
//	16     16   name, NUL-padded; must equal the carrier's name for it
//	32     8    uncompressed size in bytes
//	40     8    stored size: bytes of data after the header
//	48     32   SHA-256 of the uncompressed content
//	80     ...  data
//
// Without compression the two sizes are equal. A section is exactly one
// blob; bytes after the stored data (linker padding) are ignored. In every
// carrier, each blob lies inside the file and no two blobs overlap. The file
// cmd/payload_builder --format=section-content writes, and -sectcreate
// takes, is one blob.
//
// # Trailer
//
// A file with a trailer is: the original file, the blobs, a manifest, then
// a 32-byte footer ending the file.
//
//	manifest: 8  magic "ACTDMANI"
//	          4  format version, 1
//	          4  number of entries, at most 64
//	          then per entry, 32 bytes:
//	          16 name, NUL-padded
//	          8  offset of the blob from the start of the file
//	          8  length of the blob, header included
//	footer:   8  offset of the manifest from the start of the file
//	          8  length of the manifest
//	          4  format version, 1
//	          4  reserved, 0
//	          8  magic "ACTDTRLR"
//
// Before anything is read through them, the manifest must end exactly where
// the footer starts, every blob must lie before the manifest, blobs must not
// overlap, names must be valid and distinct, and each blob header must
// agree with its entry (name, and stored size equal to the blob length less
// the header). A file without the footer magic has no trailer: a truncated
// trailer is indistinguishable from none, and then [Set.Require] names the
// flag to pass. Any other inconsistency, in a trailer, an ELF or a Mach-O
// file, is an error wrapping [ErrCorrupt]; an unknown version wraps
// [ErrUnsupportedVersion].
//
// # Extraction
//
// [Payload.Extract] writes <root>/embedded/<name>-<sha256 hex> and returns
// its path. It writes a temporary file ".tmp-<name>-<random>" (created with
// O_EXCL) in the same directory, inflating and hashing on the way, fsyncs
// it, checks size and hash against the blob header, renames it over the
// final name and fsyncs the directory. A content that does not match is
// deleted and never renamed. When the final file already exists with the
// right size, it is hashed again (it may have been altered): if it matches,
// nothing is written; if not, it is replaced by the same atomic rename.
// Two processes extracting at once each write their own temporary file and
// both end with the same correct file. Temporary names never match the
// final pattern, so a file left by a crash is never used; Extract removes
// temporary files whose modification time is more than an hour old (an
// extraction in progress writes continually, so its file stays younger).
package payload
