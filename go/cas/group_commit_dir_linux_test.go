//go:build linux

package cas_test

import (
	"testing"

	"github.com/actiond/actiond/go/cas"
)

// groupCommitDir returns a directory on a filesystem where the store uses
// group commit: a fresh ext4 image with a journal, loop-mounted (as root,
// with mkfs.ext4), whatever the host's temp directory is; ext4 without a
// journal, as on some VMs, gets strict fsync instead. Where no image can be
// mounted it is t.TempDir().
func groupCommitDir(t *testing.T) string {
	t.Helper()
	mnt, err := cas.MountExt4Image(t, 128<<20, "", "")
	if err != nil {
		t.Logf("%v; using the temp directory", err)
		return t.TempDir()
	}
	return mnt
}
