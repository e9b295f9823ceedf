//go:build linux

package cas_test

import (
	"testing"

	"github.com/actiond/actiond/go/cas"
)

// groupCommitDir returns a directory on a filesystem where the store uses
// group commit: a fresh ext4 image with a journal, loop-mounted, whatever
// the host's temp directory is (ext4 without a journal, as on some VMs,
// gets strict fsync instead). It skips the test where no image can be
// mounted (not root, no loop devices, no mkfs.ext4) and fails it where one
// should be but is not.
func groupCommitDir(t *testing.T) string {
	t.Helper()
	return cas.MountExt4Image(t, 128<<20, "", "")
}

// tmpfsDir returns a tmpfs of size bytes of the test's own, or "" where
// none can be mounted (not root).
func tmpfsDir(t *testing.T, size int64) string {
	t.Helper()
	return cas.MountTmpfs(t, size)
}
