package reapi_test

import (
	"context"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/executor/executortest"
	"github.com/actiond/actiond/go/reapi"
)

func TestActionCache(t *testing.T) {
	e := newEnv(t, func(o *reapi.Options) { o.InlineBudgetBytes = 1000 })
	ctx := context.Background()
	stdout := e.put(t, []byte("hello from stdout"))
	stderr := e.put(t, []byte(strings.Repeat("e", 2000))) // over the budget
	outA := e.put(t, []byte("contents of a"))
	outB := e.put(t, []byte("contents of b"))
	tree := e.putMessage(t, &repb.Tree{Root: &repb.Directory{Files: []*repb.FileNode{{Name: "a", Digest: outA.Proto()}}}})
	action := digest.OfBytes([]byte("an action"))
	result := &repb.ActionResult{
		ExitCode:     3,
		StdoutDigest: stdout.Proto(),
		StderrDigest: stderr.Proto(),
		OutputFiles: []*repb.OutputFile{
			{Path: "out/a", Digest: outA.Proto()},
			{Path: "out/b", Digest: outB.Proto(), IsExecutable: true},
		},
		OutputDirectories: []*repb.OutputDirectory{{Path: "out/dir", TreeDigest: tree.Proto()}},
		OutputSymlinks:    []*repb.OutputSymlink{{Path: "out/link", Target: "a"}},
	}

	got, err := e.acc.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{InstanceName: "i", ActionDigest: action.Proto(), ActionResult: result})
	if err != nil {
		t.Fatalf("UpdateActionResult: %v", err)
	}
	if !proto.Equal(got, result) {
		t.Errorf("UpdateActionResult returned %v, want %v", got, result)
	}

	t.Run("get as stored", func(t *testing.T) {
		got, err := e.acc.GetActionResult(ctx, &repb.GetActionResultRequest{InstanceName: "other", ActionDigest: action.Proto()})
		if err != nil {
			t.Fatalf("GetActionResult: %v", err)
		}
		if !proto.Equal(got, result) {
			t.Errorf("GetActionResult = %v, want %v", got, result)
		}
	})
	t.Run("inlined within the budget", func(t *testing.T) {
		got, err := e.acc.GetActionResult(ctx, &repb.GetActionResultRequest{
			ActionDigest: action.Proto(), InlineStdout: true, InlineStderr: true, InlineOutputFiles: []string{"out/a", "no/such/file"},
		})
		if err != nil {
			t.Fatalf("GetActionResult: %v", err)
		}
		if string(got.StdoutRaw) != "hello from stdout" {
			t.Errorf("stdout_raw %q, want the stdout blob", got.StdoutRaw)
		}
		if len(got.StderrRaw) != 0 {
			t.Errorf("stderr_raw has %d bytes, want none: it exceeds the budget", len(got.StderrRaw))
		}
		if string(got.OutputFiles[0].Contents) != "contents of a" || len(got.OutputFiles[1].Contents) != 0 {
			t.Errorf("output contents %q and %q, want only out/a inlined", got.OutputFiles[0].Contents, got.OutputFiles[1].Contents)
		}
		if !proto.Equal(got.StdoutDigest, stdout.Proto()) {
			t.Errorf("stdout_digest %v changed by inlining", got.StdoutDigest)
		}
	})
	t.Run("not cached", func(t *testing.T) {
		_, err := e.acc.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: digest.OfBytes([]byte("unknown")).Proto()})
		wantCode(t, err, codes.NotFound, "")
	})
	for _, tc := range badDigests {
		t.Run("get with "+tc.name, func(t *testing.T) {
			_, err := e.acc.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: tc.digest})
			wantCode(t, err, codes.InvalidArgument, tc.substr)
		})
		t.Run("update with "+tc.name, func(t *testing.T) {
			_, err := e.acc.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{ActionDigest: tc.digest, ActionResult: result})
			wantCode(t, err, codes.InvalidArgument, tc.substr)
		})
	}
	t.Run("unknown digest function", func(t *testing.T) {
		_, err := e.acc.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: action.Proto(), DigestFunction: repb.DigestFunction_MURMUR3})
		wantCode(t, err, codes.InvalidArgument, "MURMUR3")
		_, err = e.acc.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{ActionDigest: action.Proto(), ActionResult: result, DigestFunction: repb.DigestFunction_SHA1})
		wantCode(t, err, codes.InvalidArgument, "SHA1")
	})

	bad := []struct {
		name   string
		result *repb.ActionResult
		substr string
	}{
		{"missing result", nil, "action_result is missing"},
		{"absolute output path", &repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "/etc/passwd", Digest: outA.Proto()}}}, "absolute"},
		{"dot-dot output path", &repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "out/../../x", Digest: outA.Proto()}}}, "clean relative"},
		{"empty output path", &repb.ActionResult{OutputFiles: []*repb.OutputFile{{Digest: outA.Proto()}}}, "empty"},
		{"malformed output digest", &repb.ActionResult{OutputFiles: []*repb.OutputFile{{Path: "a", Digest: &repb.Digest{Hash: "0123", SizeBytes: 1}}}}, "output_files[0]"},
		{"malformed stdout digest", &repb.ActionResult{StdoutDigest: &repb.Digest{Hash: hashA, SizeBytes: -5}}, "stdout_digest"},
		{"malformed tree digest", &repb.ActionResult{OutputDirectories: []*repb.OutputDirectory{{Path: "d"}}}, "tree_digest"},
		{"symlink without target", &repb.ActionResult{OutputSymlinks: []*repb.OutputSymlink{{Path: "l"}}}, "empty target"},
	}
	for _, tc := range bad {
		t.Run("update "+tc.name, func(t *testing.T) {
			a := digest.OfBytes([]byte(tc.name))
			_, err := e.acc.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{ActionDigest: a.Proto(), ActionResult: tc.result})
			wantCode(t, err, codes.InvalidArgument, tc.substr)
			_, err = e.acc.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: a.Proto()})
			wantCode(t, err, codes.NotFound, "")
		})
	}

	t.Run("cache errors keep their code and details", func(t *testing.T) {
		gone := digest.OfBytes([]byte("an output never uploaded"))
		a := digest.OfBytes([]byte("an action with a missing output"))
		_, err := e.acc.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{ActionDigest: a.Proto(), ActionResult: &repb.ActionResult{
			OutputFiles: []*repb.OutputFile{{Path: "out", Digest: gone.Proto()}},
		}})
		wantCode(t, err, codes.FailedPrecondition, "missing")
		var pf *errdetails.PreconditionFailure
		for _, d := range status.Convert(err).Details() {
			if p, ok := d.(*errdetails.PreconditionFailure); ok {
				pf = p
			}
		}
		if len(pf.GetViolations()) != 1 || pf.Violations[0].Type != "MISSING" || pf.Violations[0].Subject != "blobs/"+gone.String() {
			t.Errorf("details %v, want one MISSING violation for blobs/%s", status.Convert(err).Details(), gone)
		}
	})
}

// A result whose blob has gone by the time it is inlined is a miss, so the
// client runs the action again instead of failing to fetch the output. The
// real cache already checks the CAS in Get; this fake does not, which is
// the window between its check and the inlining.
func TestInliningAMissingBlobIsAMiss(t *testing.T) {
	ac := executortest.NewActionCache()
	e := newEnv(t, func(o *reapi.Options) { o.ActionCache = ac })
	ctx := context.Background()
	gone := digest.OfBytes([]byte("stdout that was never stored"))
	a := digest.OfBytes([]byte("another action"))
	if err := ac.Put(ctx, a, &repb.ActionResult{StdoutDigest: gone.Proto()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.acc.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: a.Proto()}); err != nil {
		t.Fatalf("GetActionResult without inlining: %v", err)
	}
	_, err := e.acc.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: a.Proto(), InlineStdout: true})
	wantCode(t, err, codes.NotFound, gone.String())
}
