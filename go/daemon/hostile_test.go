package daemon_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/daemon"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/internal/testbin"
)

// buildHostileTool builds testdata/hostile statically, so it runs in the
// empty sandbox root without any runtime.
func buildHostileTool(t *testing.T) []byte {
	t.Helper()
	bin, err := testbin.Path("HOSTILE_BIN", "./testdata/hostile", t.TempDir())
	if err != nil {
		t.Fatalf("building the hostile tool: %v", err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mountsUnder lists the mount points below dir in this process's mount
// namespace, which is the daemon's.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir) {
			mounts = append(mounts, fields[4])
		}
	}
	return mounts
}

// processesWith counts processes whose command line contains marker.
func processesWith(marker string) int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(marker)) {
			n++
		}
	}
	return n
}

// TestHostileActionsLeaveTheDaemonHealthy sends malformed and misbehaving
// actions through gRPC and checks each gets a precise status, and that
// afterwards nothing leaked (mounts, processes, work directories) and a
// well-behaved action still runs.
func TestHostileActionsLeaveTheDaemonHealthy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespace sandboxes and overlay mounts (CI runs as root)")
	}
	tool := buildHostileTool(t)
	toolDigest := digest.OfBytes(tool)
	root := filepath.Join(t.TempDir(), "root")
	conn, stop := startDaemon(t, daemon.Config{
		Root:      root,
		Execution: true,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	mountsBefore := mountsUnder(t, root)
	marker := "actiond-hostile-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000")

	missingDir := &repb.Directory{Files: []*repb.FileNode{{Name: "x", Digest: digest.OfBytes([]byte("never uploaded")).Proto()}}}
	_, missingDirDigest, _ := digest.OfMessage(missingDir)
	toolOnly := func(files ...*repb.FileNode) *repb.Directory {
		return &repb.Directory{Files: append([]*repb.FileNode{{Name: "hostile", Digest: toolDigest.Proto(), IsExecutable: true}}, files...)}
	}
	run := func(args ...string) *repb.Command {
		return &repb.Command{Arguments: append([]string{"./hostile"}, args...)}
	}

	tests := []struct {
		name        string
		spec        actionSpec
		wantCode    codes.Code
		wantMessage string // in the status message
		wantMissing string // a PreconditionFailure subject
		wantExit    int32  // when wantCode is OK
	}{
		{
			name:        "input root directory missing from the CAS",
			spec:        actionSpec{root: missingDir, skipRootUpload: true, cmd: run()},
			wantCode:    codes.FailedPrecondition,
			wantMissing: "blobs/" + missingDirDigest.String(),
		},
		{
			name:        "file blob missing from the CAS",
			spec:        actionSpec{root: missingDir, cmd: run()},
			wantCode:    codes.FailedPrecondition,
			wantMissing: "blobs/" + digest.OfBytes([]byte("never uploaded")).String(),
		},
		{
			name:     "dot-dot name in the input root",
			spec:     actionSpec{root: &repb.Directory{Files: []*repb.FileNode{{Name: "..", Digest: toolDigest.Proto()}}}, blobs: [][]byte{tool}, cmd: run()},
			wantCode: codes.InvalidArgument,
		},
		{
			name:     "slash in an input name",
			spec:     actionSpec{root: &repb.Directory{Files: []*repb.FileNode{{Name: "a/hostile", Digest: toolDigest.Proto()}}}, blobs: [][]byte{tool}, cmd: run()},
			wantCode: codes.InvalidArgument,
		},
		{
			name: "symlink input pointing outside the root",
			spec: actionSpec{root: &repb.Directory{
				Files:    toolOnly().Files,
				Symlinks: []*repb.SymlinkNode{{Name: "passwd", Target: "../../../../etc/passwd"}},
			}, blobs: [][]byte{tool}, cmd: run()},
			wantCode: codes.InvalidArgument,
		},
		{
			name:     "output path escaping the root",
			spec:     actionSpec{root: toolOnly(), blobs: [][]byte{tool}, cmd: &repb.Command{Arguments: []string{"./hostile"}, OutputFiles: []string{"../escape"}}},
			wantCode: codes.InvalidArgument,
		},
		{
			name:     "output path whose parent is an input file",
			spec:     actionSpec{root: toolOnly(), blobs: [][]byte{tool}, cmd: &repb.Command{Arguments: []string{"./hostile"}, OutputFiles: []string{"hostile/out"}}},
			wantCode: codes.InvalidArgument,
		},
		{
			name:     "argv0 does not exist",
			spec:     actionSpec{root: toolOnly(), blobs: [][]byte{tool}, cmd: &repb.Command{Arguments: []string{"./no-such-program"}}},
			wantCode: codes.OK,
			wantExit: 127,
		},
		{
			name:        "gigabytes on stdout",
			spec:        actionSpec{root: toolOnly(), blobs: [][]byte{tool}, cmd: run("flood", "4294967296")},
			wantCode:    codes.ResourceExhausted,
			wantMessage: "stdout",
		},
		{
			name:     "action that never exits",
			spec:     actionSpec{root: toolOnly(), blobs: [][]byte{tool}, cmd: run("sleep", "3600000"), timeout: time.Second},
			wantCode: codes.DeadlineExceeded,
		},
		{
			name:     "background process left behind",
			spec:     actionSpec{root: toolOnly(), blobs: [][]byte{tool}, cmd: run("background", marker)},
			wantCode: codes.OK,
			wantExit: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp := execute(t, conn, tc.spec)
			got := codes.Code(resp.GetStatus().GetCode())
			if got != tc.wantCode {
				t.Fatalf("status = %v %q, want %v", got, resp.GetStatus().GetMessage(), tc.wantCode)
			}
			if !strings.Contains(resp.GetStatus().GetMessage(), tc.wantMessage) {
				t.Errorf("status message %q does not mention %q", resp.GetStatus().GetMessage(), tc.wantMessage)
			}
			if tc.wantMissing != "" && !hasMissing(t, resp, tc.wantMissing) {
				t.Errorf("status details %v do not list MISSING %s", resp.GetStatus().GetDetails(), tc.wantMissing)
			}
			if got == codes.OK && resp.GetResult().GetExitCode() != tc.wantExit {
				t.Errorf("exit code = %d, want %d", resp.GetResult().GetExitCode(), tc.wantExit)
			}
			if took := time.Since(start); took > time.Minute {
				t.Errorf("took %v: the daemon should stop a misbehaving action promptly", took)
			}
		})
	}

	t.Run("daemon still healthy", func(t *testing.T) {
		resp := execute(t, conn, actionSpec{
			root: toolOnly(), blobs: [][]byte{tool},
			cmd: &repb.Command{Arguments: []string{"./hostile", "write", "out.txt", "fine"}, OutputFiles: []string{"out.txt"}},
		})
		if resp.GetStatus().GetCode() != 0 || resp.GetResult().GetExitCode() != 0 || len(resp.GetResult().GetOutputFiles()) != 1 {
			t.Fatalf("a well-behaved action after the hostile ones: %v", resp)
		}
		want := digest.OfBytes([]byte("fine"))
		if got, _ := digest.FromProto(resp.GetResult().GetOutputFiles()[0].GetDigest()); got != want {
			t.Errorf("out.txt digest = %v, want %v", got, want)
		}
	})

	if n := processesWith(marker); n != 0 {
		t.Errorf("%d processes of the background step survived their action", n)
	}
	if err := stop(); err != nil {
		t.Errorf("stopping the daemon: %v", err)
	}
	if got := mountsUnder(t, root); len(got) != len(mountsBefore) {
		t.Errorf("mounts under the root after the actions: %q, want %q", got, mountsBefore)
	}
	// The executor's scratch and the execroot's per-action overlay dirs.
	for _, dir := range []string{filepath.Join(root, "actions"), filepath.Join(root, "execroot", "actions")} {
		leftovers, _ := os.ReadDir(dir)
		for _, e := range leftovers {
			t.Errorf("per-action directory left behind: %s", filepath.Join(dir, e.Name()))
		}
	}
}

func hasMissing(t *testing.T, resp *repb.ExecuteResponse, subject string) bool {
	t.Helper()
	for _, any := range resp.GetStatus().GetDetails() {
		pf := &errdetails.PreconditionFailure{}
		if any.UnmarshalTo(pf) != nil {
			continue
		}
		for _, v := range pf.GetViolations() {
			if v.GetType() == "MISSING" && v.GetSubject() == subject {
				return true
			}
		}
	}
	return false
}
