// Package cas is actiond's on-disk content-addressed store of REAPI blobs.
//
// Layout under Options.Root:
//
//	cas/sha256/<2hex>/<64hex>   one file per blob, mode 0444, owned by the daemon
//	cas/sha256x/<2hex>/<64hex>  executable variant of a blob (mode 0555), see Store.LinkExecutable
//	cas/tmp/                    temp files of in-flight writes, wiped at Open
//	cas/recent/<64hex>-<n>      hard link of a blob no flush has confirmed yet (epochs)
//
// Every write goes to a temp file that is hashed while it is written,
// verified against its digest and only then renamed into place, so a file
// under sha256/ holds the bytes its name promises. Concurrent writers of one
// blob each use their own temp file; the first rename wins and the others
// drop their temp file.
//
// Durability is by epochs where the filesystem can be trusted with them
// (ext4 with a journal, xfs, btrfs, tmpfs, on Linux 5.8 or later; see
// trustsEpochs). A write is acknowledged as soon as its verified bytes are
// renamed into place, with no flush of its own. A background flush
// (settle) runs FlushInterval after the first write it covers, and at
// Close: one syncfs of the store's filesystem for every write since the
// last, shared through groupSyncer with anyone else waiting for a flush.
// Until that flush confirms a blob, a hard link to it stays under
// Root/cas/recent (see install). A clean Close leaves none; after a crash
// or a power loss, the links name exactly the blobs whose bytes may not
// have reached the disk, and Open hashes each of them again before it
// serves anything, dropping those that do not match. The action cache
// then reports results whose blobs were dropped as misses.
//
// A flush that fails (a writeback error, reported by syncfs once to
// whichever flush checks first) condemns every blob written before it
// that no successful flush had confirmed: the page cache still shows their
// correct bytes but the disk may not hold them, so they are removed, not
// left visible. groupSyncer counts failures; a blob is confirmed only by a
// successful flush with no failure counted since its bytes were written,
// whichever flush saw the error. MoveFile, whose file was written before
// the call, takes the count from before it was written and copies the file
// instead when a flush failed since.
//
// Sync makes everything acknowledged so far durable; the action cache
// calls it before storing a client's result, which is durable when
// UpdateActionResult returns. So whatever was acknowledged before the last
// completed flush, or before a returned UpdateActionResult, survives a
// crash, and nothing damaged is served after one.
//
// Elsewhere (Options.StrictFsync, which Open turns on by itself for other
// filesystems, FUSE and network filesystems among them, older kernels and
// macOS) every write is fdatasynced before its rename and acknowledged only
// after a flush that began after its rename, shared by concurrent writes
// (group commit): a batch of N concurrent writes costs N fdatasyncs and
// about two flushes. When such a flush fails, the blobs renamed in since
// the last successful one are removed and their writers get INTERNAL.
//
// The store keeps an in-memory index of every blob, built by scanning the
// disk at Open. The index is authoritative for Contains and FindMissing,
// which touch no disk; Get and ReadAll open the file and check its size,
// dropping a blob whose file vanished or changed size. The store assumes
// it is the only one writing under Root/cas.
//
// Eviction is least-recently-used over the index. A blob in use (opened by
// Get, pinned by Pin or LinkExecutable, or the target of an open Writer) is
// never evicted: pinned entries leave the LRU list until their last unpin.
// Space for a new blob is reserved before its bytes are written, evicting
// unpinned blobs as needed; when the limit cannot be met because everything
// left is pinned or reserved, the write fails with RESOURCE_EXHAUSTED, so the
// store never holds more than MaxBytes (counted as the sum of blob sizes,
// plus the sizes of executable variants, plus the reservations of in-flight
// writes, which cover their temp files). A streaming Writer reserves as its
// bytes arrive, never the declared size up front: after n bytes it holds at
// most n + min(n, chunk), chunk being 4 MiB (MaxBytes/16 in a store under
// 64 MiB). So an upload that declares a large blob and sends nothing evicts
// nothing, and one that stalls has made room for at most one chunk, and
// never more than its own byte count, beyond what it sent. Only a declared
// size above MaxBytes is refused at once.
//
// MaxBytes assumes the disk has that much room; something else may take it
// first. A write that meets a full disk (ENOSPC or EDQUOT) evicts unused
// blobs adding up to what it still has to write (makeRoomOnDisk, which
// also flushes, so that evicted blobs' recent/ links let go of their
// blocks) and tries once more; if the disk is still full it fails with
// RESOURCE_EXHAUSTED saying so, and its temp file goes, so nothing partial
// is ever visible. The steps that cannot be retried piecemeal (fdatasync,
// rename) report a full disk the same way. Nothing is kept broken: the
// next write after space returns succeeds.
//
// LRU order survives a restart only roughly: Open orders blobs by the later
// of their atime and mtime.
//
// # Files at rest
//
// Root/cas and its directories are created 0700; Open removes group and
// world write permission from existing ones and refuses (FAILED_PRECONDITION)
// a directory owned by another user. Blob files are 0444 and the daemon's.
//
// A blob's file changed on disk behind the store's back (by a user, a tool
// or the disk) must not be served as the blob. Hashing every read would
// catch everything but costs a SHA-256 pass per use: ByteStream.Read of a
// 16 MiB blob from the page cache ran at about 1.5 GB/s instead of 15-20
// GB/s (BenchmarkRead), and input staging would hash every input. The store
// instead records each file's stamp (inode and mtime) when it writes or
// indexes it, and compares the stamp, size, mode and owner on each use, from
// a stat it mostly makes anyway: Get's fstat, one lstat in Pin (the
// execroot's per-input-file call) and in LinkExecutables for an existing
// executable variant, and one fstat per piece a reader sends (Blob.Check).
// Any write to a file sets its mtime and replacing it changes the inode, so
// only a writer that puts the mtime back on purpose (utimensat) escapes
// this while the store is open, and bit rot escapes it always. A mismatch
// costs one full hash: a file that still holds the blob's bytes and is the
// store's gets its mode back and a new stamp; any other is removed and the
// blob reported NOT_FOUND, so the client uploads it again, or DATA_LOSS to
// a reader that has already sent part of it. The action cache then misses
// on results that reference it. A changed variant is removed and copied
// again from the blob.
//
// While no process has the store open the stamps are not kept, so Open
// compares each file's ctime, which any change to the file sets to the
// current time and no system call sets otherwise, with the last clean Close
// (the mtime of variantsCleanMarker) or, after a crash, with the last Open
// (openedMarker), and hashes the files changed since, and any with the wrong
// mode or owner, before it serves them. After a crash that means every blob
// written or linked into an input tree during the last run.
//
// Input files reach actions as hard links (or executable variants) in a
// lower tree under an overlay, or in read-only binds, so an action cannot
// change a CAS file (see package execroot); the check above covers what
// happens outside actiond.
package cas
