//go:build linux || darwin

package doctor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// MinFreeBytes is the free space under the root below which the disk check
// fails: the CAS gets half the free disk by default, the VM's CAS image
// its own size, and with less than this few builds fit.
const MinFreeBytes = 2 << 30

// freeDisk checks the free space on root's file system, for modes.
func freeDisk(root string, modes []string) Check {
	c := Check{Name: "free disk", Impact: map[string]Impact{},
		Without: fmt.Sprintf("less than %d GiB free under --root: the CAS evicts early and large builds fail", MinFreeBytes>>30)}
	for _, m := range modes {
		c.Impact[m] = Degrades
	}
	if root == "" {
		c.State, c.Detail, c.Fix = Missing, "no --root (no home directory to default to)", "pass --root DIR"
		for _, m := range modes {
			c.Impact[m] = Blocks
		}
		return c
	}
	dir := root
	var st unix.Statfs_t
	for {
		err := unix.Statfs(dir, &st)
		if err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, os.ErrNotExist) || parent == dir {
			c.State, c.Detail, c.Fix = Missing, fmt.Sprintf("statfs %s: %v", dir, err), "pass a --root on a readable file system"
			return c
		}
		dir = parent
	}
	free := uint64(st.Bavail) * uint64(st.Bsize)
	c.Detail = fmt.Sprintf("%.1f GiB free on the file system of %s", float64(free)/(1<<30), dir)
	if free < MinFreeBytes {
		c.State, c.Fix = Missing, "free some space there or pass a --root on a larger file system"
	}
	return c
}
