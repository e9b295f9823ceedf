// Package cas is actiond's on-disk content-addressed store of REAPI blobs.
//
// Layout under Options.Root:
//
//	cas/sha256/<2hex>/<64hex>   one file per blob, mode 0444, owned by the daemon
//	cas/sha256x/<2hex>/<64hex>  executable variant of a blob (mode 0555), see Store.LinkExecutable
//	cas/tmp/                    temp files of in-flight writes, wiped at Open
//
// Every write goes to a temp file that is hashed while it is written,
// verified against its digest and only then renamed into place, so a file
// under sha256/ holds the bytes its name promises. Concurrent writers of one
// blob each use their own temp file; the first rename wins and the others
// drop their temp file.
//
// Durability is by group commit: after its rename a write waits for a
// filesystem flush (syncfs of the store's filesystem) that began after it,
// and only then is acknowledged, so an acknowledged write survives a crash.
// Writes that finish while a flush runs share the next one, so a batch of N
// concurrent writes costs about two flushes instead of 2N fsyncs (see
// groupSyncer). A write that finds its blob already renamed in by another,
// still unflushed write waits as well. A crash before the flush leaves the
// blob missing, or with a short or empty file on ext4/xfs/btrfs, which no
// lookup matches (a digest includes the size) and Get's size check drops
// (see Store.install); on other filesystems Options.StrictFsync, which
// Open then turns on, also fdatasyncs each blob before its rename. When a
// flush fails, the blobs renamed in since the
// last successful one cannot be trusted to be on disk: their writers get
// INTERNAL and the blobs are removed, not left visible but unacknowledged.
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
// LRU order survives a restart only roughly: Open orders blobs by the later
// of their atime and mtime.
package cas
