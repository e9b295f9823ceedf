// Package rmtree removes directory trees that may hold read-only
// directories: runtime images unpacked with their 0555 directories, and the
// trees actions or a non-root daemon's caches made unwritable.
package rmtree

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Remove is os.RemoveAll that also empties directories without write
// permission. Only when os.RemoveAll fails for lack of permission does it
// make every directory of the tree 0700 and try again; as root, the first
// attempt already succeeds. Like os.RemoveAll, it returns nil if p does not
// exist.
func Remove(p string) error {
	err := os.RemoveAll(p)
	if err == nil || !os.IsPermission(err) {
		return err
	}
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}
