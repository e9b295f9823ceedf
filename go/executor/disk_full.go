package executor

import (
	"path/filepath"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
)

// diskFullBytes is the free space under which a failed action is taken to
// have failed for want of it: less than this left for unprivileged writers
// means the action's last write most likely met ENOSPC.
const diskFullBytes = 1 << 20

// diskFullError is RESOURCE_EXHAUSTED when the file system holding the
// action's work directory (the directory of its stdout file) is full as the
// action ends with exitCode, else nil. The action's own writes fail inside
// it with ENOSPC and end as an ordinary non-zero exit; the client needs to
// know that the server ran out of room, not that its action is wrong.
func diskFullError(stdout string, exitCode int32) error {
	if exitCode == 0 {
		return nil
	}
	dir := filepath.Dir(stdout)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil
	}
	free := uint64(st.Bavail) * uint64(st.Bsize)
	if free >= diskFullBytes {
		return nil
	}
	return rpcstatus.Newf(codes.ResourceExhausted,
		"the action exited %d while the file system holding its work directory (%s) had %d bytes free: it most likely failed for want of disk space; free space there, or lower the daemon's CAS limit", exitCode, dir, free)
}
