package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	longrunningpb "cloud.google.com/go/longrunning/autogen/longrunningpb"
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi/reapitest"
)

// goBuild builds the package pkg (relative to this directory) into a
// temporary file, statically.
func goBuild(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// daemonProcess is a linux_actiond serve process and its JSON log.
type daemonProcess struct {
	cmd  *exec.Cmd
	conn *grpc.ClientConn
	// ready is the "actiond ready" record, with the store's settings, and
	// serving the "serving" record, with the address and .bazelrc lines.
	ready, serving map[string]any
	logs           chan map[string]any // every log record, in order
	done           chan error          // the result of Wait
}

// startServe runs bin serve with args on a loopback port chosen by the
// kernel, and connects to it once it logs where it serves.
func startServe(t *testing.T, bin string, args ...string) *daemonProcess {
	t.Helper()
	return startDaemon(t, bin, "serve", args...)
}

// startDaemon runs bin's serve or serve-vm command as startServe does.
func startDaemon(t *testing.T, bin, command string, args ...string) *daemonProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{command, "--listen=127.0.0.1:0", "--log-format=json"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProcess{cmd: cmd, logs: make(chan map[string]any, 1000), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil {
				select {
				case p.logs <- rec:
				default:
				}
			}
		}
		close(p.logs)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if p.conn != nil {
			p.conn.Close()
		}
	})
	p.ready = p.waitLog(t, "actiond ready")
	p.serving = p.waitLog(t, "serving")
	conn, err := grpc.NewClient(p.serving["listen"].(string), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	p.conn = conn
	return p
}

// waitLog returns the next log record with message msg.
func (p *daemonProcess) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case rec, ok := <-p.logs:
			if !ok {
				t.Fatalf("the daemon exited before logging %q", msg)
			}
			if rec["msg"] == msg {
				return rec
			}
		case <-timeout:
			t.Fatalf("the daemon did not log %q", msg)
		}
	}
}

// startAction uploads an action running the tool with args and starts
// it; platform properties come in name, value pairs.
func startAction(t *testing.T, conn *grpc.ClientConn, tool []byte, args []string, timeout time.Duration, props ...string) (repb.Execution_ExecuteClient, digest.Digest) {
	t.Helper()
	return startActionContext(t.Context(), t, conn, tool, args, timeout, props...)
}

// startActionContext is startAction whose Execute call lives as long as
// ctx: cancelling it leaves the action to be killed once nobody waits.
func startActionContext(ctx context.Context, t *testing.T, conn *grpc.ClientConn, tool []byte, args []string, timeout time.Duration, props ...string) (repb.Execution_ExecuteClient, digest.Digest) {
	t.Helper()
	cmd := &repb.Command{Arguments: append([]string{"./tool"}, args...), Platform: &repb.Platform{}}
	for i := 0; i+1 < len(props); i += 2 {
		cmd.Platform.Properties = append(cmd.Platform.Properties, &repb.Platform_Property{Name: props[i], Value: props[i+1]})
	}
	root := &repb.Directory{Files: []*repb.FileNode{{Name: "tool", Digest: digest.OfBytes(tool).Proto(), IsExecutable: true}}}
	cmdBytes, cmdDigest := reapitest.Marshal(t, cmd)
	rootBytes, rootDigest := reapitest.Marshal(t, root)
	action := &repb.Action{CommandDigest: cmdDigest.Proto(), InputRootDigest: rootDigest.Proto(), Platform: cmd.Platform}
	if timeout > 0 {
		action.Timeout = durationpb.New(timeout)
	}
	ab, ad := reapitest.Marshal(t, action)
	reapitest.Upload(t.Context(), t, conn, cmdBytes, rootBytes, ab, tool)
	stream, err := repb.NewExecutionClient(conn).Execute(ctx, &repb.ExecuteRequest{ActionDigest: ad.Proto(), SkipCacheLookup: true})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return stream, ad
}

// nextStage reads the stream until an operation, and returns its stage
// and, when done, its response.
func nextStage(t *testing.T, stream repb.Execution_ExecuteClient) (repb.ExecutionStage_Value, *repb.ExecuteResponse) {
	t.Helper()
	op, err := stream.Recv()
	if err != nil {
		t.Fatalf("Execute stream: %v", err)
	}
	return stageOf(t, op)
}

func stageOf(t *testing.T, op *longrunningpb.Operation) (repb.ExecutionStage_Value, *repb.ExecuteResponse) {
	t.Helper()
	if op.GetDone() {
		resp := &repb.ExecuteResponse{}
		if err := op.GetResponse().UnmarshalTo(resp); err != nil {
			t.Fatal(err)
		}
		return repb.ExecutionStage_COMPLETED, resp
	}
	md := &repb.ExecuteOperationMetadata{}
	if err := op.GetMetadata().UnmarshalTo(md); err != nil {
		t.Fatal(err)
	}
	return md.GetStage(), nil
}

// waitStage reads the stream until it reports stage (or completes).
func waitStage(t *testing.T, stream repb.Execution_ExecuteClient, stage repb.ExecutionStage_Value) *repb.ExecuteResponse {
	t.Helper()
	for {
		got, resp := nextStage(t, stream)
		if got == stage || resp != nil {
			return resp
		}
	}
}

// TestServeFlagsReachTheExecutor runs the real binary and checks that
// --max-cas-bytes, --allow-property, --default-timeout and --jobs take
// effect.
func TestServeFlagsReachTheExecutor(t *testing.T) {
	bin, tool := buildBinaries(t)
	const maxCAS = 123 << 20
	p := startServe(t, bin, "--root="+t.TempDir(), fmt.Sprintf("--max-cas-bytes=%d", maxCAS),
		"--allow-property=OSFamily", "--default-timeout=2s", "--jobs=1")
	if got := p.ready["cas_max_bytes"]; got != float64(maxCAS) {
		t.Errorf("cas_max_bytes = %v, want %d from --max-cas-bytes", got, maxCAS)
	}

	t.Run("allow-property", func(t *testing.T) {
		stream, _ := startAction(t, p.conn, tool, []string{"sleep", "1"}, 0, "OSFamily", "Linux")
		if resp := waitStage(t, stream, repb.ExecutionStage_COMPLETED); resp.GetStatus().GetCode() != 0 {
			t.Errorf("an action with the allowed property OSFamily = %v, want OK", resp.GetStatus())
		}
		stream, _ = startAction(t, p.conn, tool, []string{"sleep", "1"}, 0, "NotAllowed", "x")
		if resp := waitStage(t, stream, repb.ExecutionStage_COMPLETED); codes.Code(resp.GetStatus().GetCode()) != codes.InvalidArgument {
			t.Errorf("an action with a property not allowed = %v, want INVALID_ARGUMENT", resp.GetStatus())
		}
	})
	t.Run("default-timeout", func(t *testing.T) {
		stream, _ := startAction(t, p.conn, tool, []string{"sleep", "600000"}, 0)
		if resp := waitStage(t, stream, repb.ExecutionStage_COMPLETED); codes.Code(resp.GetStatus().GetCode()) != codes.DeadlineExceeded {
			t.Errorf("an action without a timeout sleeping past --default-timeout = %v, want DEADLINE_EXCEEDED", resp.GetStatus())
		}
	})
	t.Run("jobs", func(t *testing.T) {
		// With one job, the second action starts on the worker only
		// after the first has finished, by the daemon's own clock.
		first, _ := startAction(t, p.conn, tool, []string{"sleep", "1500"}, time.Minute)
		waitStage(t, first, repb.ExecutionStage_EXECUTING)
		second, _ := startAction(t, p.conn, tool, []string{"sleep", "1"}, time.Minute)
		a := waitStage(t, first, repb.ExecutionStage_COMPLETED)
		b := waitStage(t, second, repb.ExecutionStage_COMPLETED)
		if a.GetStatus().GetCode() != 0 || b.GetStatus().GetCode() != 0 {
			t.Fatalf("actions = %v, %v; want both OK", a.GetStatus(), b.GetStatus())
		}
		done := a.GetResult().GetExecutionMetadata().GetWorkerCompletedTimestamp().AsTime()
		start := b.GetResult().GetExecutionMetadata().GetWorkerStartTimestamp().AsTime()
		if done.IsZero() || start.Before(done) {
			t.Errorf("the second action started at %v, before the first finished at %v, with --jobs=1", start, done)
		}
	})
}

// buildBinaries skips unless root, then builds linux_actiond and returns
// its path with the contents of the static action tool of the daemon's
// tests (go/daemon/testdata/hostile).
func buildBinaries(t *testing.T) (string, []byte) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespace sandboxes and overlay mounts (CI runs as root)")
	}
	tool, err := os.ReadFile(goBuild(t, "../../go/daemon/testdata/hostile"))
	if err != nil {
		t.Fatal(err)
	}
	return goBuild(t, "."), tool
}

// TestSIGTERMDrainsAndRestarts sends SIGTERM to the real binary while an
// action runs and an upload is half sent: the action finishes within the
// grace period, the process exits 0, and a restart on the same root
// serves what was acknowledged but not the partial upload.
func TestSIGTERMDrainsAndRestarts(t *testing.T) {
	bin, tool := buildBinaries(t)
	root := t.TempDir()
	p := startServe(t, bin, "--root="+root)

	acked := []byte("acknowledged before SIGTERM")
	reapitest.Upload(t.Context(), t, p.conn, acked)
	partial := []byte(strings.Repeat("half sent ", 1000))
	pd := digest.OfBytes(partial)
	w, err := bspb.NewByteStreamClient(p.conn).Write(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	name := "uploads/sigterm/blobs/" + pd.String()
	if err := w.Send(&bspb.WriteRequest{ResourceName: name, Data: partial[:100]}); err != nil {
		t.Fatal(err)
	}
	stream, action := startAction(t, p.conn, tool, []string{"sleep", "2000"}, time.Minute)
	waitStage(t, stream, repb.ExecutionStage_EXECUTING)

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	resp := waitStage(t, stream, repb.ExecutionStage_COMPLETED)
	if resp.GetStatus().GetCode() != 0 || resp.GetResult().GetExitCode() != 0 {
		t.Errorf("the action running at SIGTERM = %v, exit %d; want it to finish within the grace period", resp.GetStatus(), resp.GetResult().GetExitCode())
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("linux_actiond after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("linux_actiond did not exit after SIGTERM")
	}

	p = startServe(t, bin, "--root="+root)
	cas := repb.NewContentAddressableStorageClient(p.conn)
	if got := reapitest.ReadBlob(t, p.conn, digest.OfBytes(acked).Proto()); got != string(acked) {
		t.Errorf("the acknowledged blob after a restart = %q, want %q", got, acked)
	}
	if _, err := repb.NewActionCacheClient(p.conn).GetActionResult(context.Background(), &repb.GetActionResultRequest{ActionDigest: action.Proto()}); err != nil {
		t.Errorf("the result of the action that finished during the grace period, after a restart: %v", err)
	}
	missing, err := cas.FindMissingBlobs(context.Background(), &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{pd.Proto()}})
	if err != nil || len(missing.GetMissingBlobDigests()) != 1 {
		t.Errorf("FindMissingBlobs of the half-sent upload after a restart = %v, %v; want it missing", missing, err)
	}
	st, err := bspb.NewByteStreamClient(p.conn).QueryWriteStatus(context.Background(), &bspb.QueryWriteStatusRequest{ResourceName: name})
	if err != nil || st.GetCommittedSize() != 0 {
		t.Errorf("QueryWriteStatus of the half-sent upload after a restart = %v, %v; want committed_size 0", st, err)
	}
	if entries, err := os.ReadDir(filepath.Join(root, "cas", "tmp")); err == nil && len(entries) > 0 {
		t.Errorf("the half-sent upload left %d temp files", len(entries))
	}
}
