package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/daemon"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi/reapitest"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestNoExecutionRefusesExecute checks that a cache-only daemon answers
// Execute with a status that says why.
func TestNoExecutionRefusesExecute(t *testing.T) {
	conn, _ := startDaemon(t, daemon.Config{Root: t.TempDir(), Logger: discardLogger()})
	ctx := t.Context()
	d := digest.OfBytes([]byte("an action"))
	stream, err := repb.NewExecutionClient(conn).Execute(ctx, &repb.ExecuteRequest{ActionDigest: d.Proto()})
	if err == nil {
		_, err = stream.Recv()
	}
	st := status.Convert(err)
	if st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "execution is disabled") {
		t.Errorf("Execute on a cache-only daemon = %v, want UNIMPLEMENTED saying execution is disabled", err)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for namespace sandboxes and overlay mounts (CI runs as root)")
	}
}

// toolRoot is an input root holding only the hostile tool.
func toolRoot(tool []byte) *repb.Directory {
	return &repb.Directory{Files: []*repb.FileNode{{Name: "hostile", Digest: digest.OfBytes(tool).Proto(), IsExecutable: true}}}
}

// TestGetTreeOfAnActionOutput runs an action that writes a nested output
// directory, asking for its Directories to be stored (as the README says
// GetTree needs), and reads it back with GetTree through the server: the
// directories must be those of the Tree in the ActionResult.
func TestGetTreeOfAnActionOutput(t *testing.T) {
	requireRoot(t)
	tool := buildHostileTool(t)
	conn, _ := startDaemon(t, daemon.Config{Root: filepath.Join(t.TempDir(), "root"), Execution: true, Logger: discardLogger()})
	resp := execute(t, conn, actionSpec{
		root:  toolRoot(tool),
		blobs: [][]byte{tool},
		cmd: &repb.Command{
			Arguments: []string{"./hostile", "mkdir", "out/a/b", "mkdir", "out/c",
				"write", "out/top", "top", "write", "out/a/b/deep", "deep", "write", "out/c/side", "side"},
			OutputDirectories:     []string{"out"},
			OutputDirectoryFormat: repb.Command_TREE_AND_DIRECTORY,
		},
	})
	if resp.GetStatus().GetCode() != 0 || resp.GetResult().GetExitCode() != 0 {
		t.Fatalf("action = %v, exit %d; stderr %q", resp.GetStatus(), resp.GetResult().GetExitCode(), reapitest.ReadBlob(t, conn, resp.GetResult().GetStderrDigest()))
	}
	dirs := resp.GetResult().GetOutputDirectories()
	if len(dirs) != 1 || dirs[0].GetPath() != "out" {
		t.Fatalf("output directories = %v, want out", dirs)
	}
	tree := &repb.Tree{}
	if err := proto.Unmarshal([]byte(reapitest.ReadBlob(t, conn, dirs[0].GetTreeDigest())), tree); err != nil {
		t.Fatalf("the Tree blob: %v", err)
	}
	want := map[string]bool{}
	for _, d := range append([]*repb.Directory{tree.GetRoot()}, tree.GetChildren()...) {
		_, dd := reapitest.Marshal(t, d)
		want[dd.String()] = true
	}
	if len(want) != 4 {
		t.Fatalf("the Tree holds %d distinct directories, want 4 (out, a, a/b, c)", len(want))
	}
	_, rootDigest := reapitest.Marshal(t, tree.GetRoot())
	if got := dirs[0].GetRootDirectoryDigest(); got.GetHash() != rootDigest.Hash {
		t.Errorf("root_directory_digest = %v, want the Tree's root %s", got, rootDigest)
	}
	stream, err := repb.NewContentAddressableStorageClient(conn).GetTree(t.Context(), &repb.GetTreeRequest{RootDigest: rootDigest.Proto()})
	if err != nil {
		t.Fatalf("GetTree: %v", err)
	}
	got := map[string]bool{}
	files := 0
	for {
		page, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("GetTree: %v", err)
		}
		for _, d := range page.GetDirectories() {
			_, dd := reapitest.Marshal(t, d)
			got[dd.String()] = true
			for _, f := range d.GetFiles() {
				files++
				// Each file holds its own name.
				if content := reapitest.ReadBlob(t, conn, f.GetDigest()); content != f.GetName() {
					t.Errorf("file %s holds %q", f.GetName(), content)
				}
			}
		}
	}
	if len(got) != len(want) || files != 3 {
		t.Errorf("GetTree returned %d directories and %d files, want %d and 3", len(got), files, len(want))
	}
	for d := range want {
		if !got[d] {
			t.Errorf("GetTree lacks directory %s of the action's Tree", d)
		}
	}
}

// TestEvictionUnderARunningDaemon runs actions whose outputs together
// exceed --max-cas-bytes: each must still succeed, and the action cache
// must then miss the first action, whose output was evicted.
func TestEvictionUnderARunningDaemon(t *testing.T) {
	requireRoot(t)
	tool := buildHostileTool(t)
	const outputBytes = 4 << 20
	maxCAS := int64(len(tool)) + 3*outputBytes
	conn, _ := startDaemon(t, daemon.Config{Root: filepath.Join(t.TempDir(), "root"), Execution: true, MaxCASBytes: maxCAS, Logger: discardLogger()})
	var actions []digest.Digest
	for i := range 6 {
		name := fmt.Sprintf("out%d", i)
		resp, action := executeAction(t, conn, actionSpec{
			root:      toolRoot(tool),
			blobs:     [][]byte{tool},
			cacheable: true,
			cmd: &repb.Command{
				Arguments:   []string{"./hostile", "fill", name, fmt.Sprint(outputBytes)},
				OutputFiles: []string{name},
			},
		})
		if resp.GetStatus().GetCode() != 0 || resp.GetResult().GetExitCode() != 0 {
			t.Fatalf("action %d with a %d-byte CAS = %v, exit %d", i, maxCAS, resp.GetStatus(), resp.GetResult().GetExitCode())
		}
		if files := resp.GetResult().GetOutputFiles(); len(files) != 1 || files[0].GetDigest().GetSizeBytes() != outputBytes {
			t.Fatalf("action %d: output files %v, want one of %d bytes", i, files, outputBytes)
		}
		actions = append(actions, action)
	}
	ac := repb.NewActionCacheClient(conn)
	_, err := ac.GetActionResult(context.Background(), &repb.GetActionResultRequest{ActionDigest: actions[0].Proto()})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetActionResult of the first action, whose output was evicted = %v, want NOT_FOUND", err)
	}
	if _, err := ac.GetActionResult(context.Background(), &repb.GetActionResultRequest{ActionDigest: actions[5].Proto()}); err != nil {
		t.Errorf("GetActionResult of the last action = %v, want a hit", err)
	}
}
