package executor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/internal/diskfill"
	"github.com/actiond/actiond/go/sandbox"
)

// TestFailedActionOnAFullDisk runs actions whose work directory sits on a
// small tmpfs: one that fails after filling it (as an action whose write
// met ENOSPC) must be RESOURCE_EXHAUSTED saying so, with its exit code
// kept; one that fails with room to spare, and one that fills the disk
// and still succeeds, keep their plain results.
func TestFailedActionOnAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root)")
	}
	tests := []struct {
		name     string
		fill     bool
		exitCode int
		want     codes.Code
	}{
		{"fails on a full disk", true, 1, codes.ResourceExhausted},
		{"fails with room left", false, 1, codes.OK},
		{"succeeds on a full disk", true, 0, codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
				t.Skipf("mounting a tmpfs: %v", err)
			}
			t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
			e := newEnv(t, nil)
			e.roots.ScratchDir = dir
			e.runner.Func = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
				if tc.fill {
					diskfill.Fill(t, filepath.Join(dir, "filler"))
				}
				return sandbox.Result{ExitCode: tc.exitCode}, nil
			}
			resp := e.run(t, &repb.ExecuteRequest{ActionDigest: e.action(echoCommand(), nil)})
			if got := codes.Code(resp.GetStatus().GetCode()); got != tc.want {
				t.Fatalf("status = %v (%s), want %v", got, resp.GetStatus().GetMessage(), tc.want)
			}
			if got := resp.GetResult().GetExitCode(); got != int32(tc.exitCode) {
				t.Errorf("exit code = %d, want %d kept in the result", got, tc.exitCode)
			}
			if tc.want == codes.ResourceExhausted && !strings.Contains(resp.GetStatus().GetMessage(), "for want of disk space") {
				t.Errorf("message %q does not say the disk was full", resp.GetStatus().GetMessage())
			}
		})
	}
}
