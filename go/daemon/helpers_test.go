package daemon_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi/reapitest"
)

// actionSpec describes an action for execute: files become executable
// entries of the input root, unless root is given explicitly.
type actionSpec struct {
	files map[string][]byte
	// root replaces the generated input root; blobs are uploaded with it.
	root  *repb.Directory
	blobs [][]byte
	// skipRootUpload leaves the input root Directory out of the CAS.
	skipRootUpload bool
	cmd            *repb.Command
	timeout        time.Duration
	// cacheable lets the result go to the action cache.
	cacheable bool
}

// execute uploads what spec needs, runs it with the cache lookup skipped and
// returns the final ExecuteResponse, whatever its status.
func execute(t *testing.T, conn *grpc.ClientConn, spec actionSpec) *repb.ExecuteResponse {
	t.Helper()
	resp, _ := executeAction(t, conn, spec)
	return resp
}

// executeAction is execute that also returns the action's digest.
func executeAction(t *testing.T, conn *grpc.ClientConn, spec actionSpec) (*repb.ExecuteResponse, digest.Digest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	blobs := append([][]byte(nil), spec.blobs...)
	root := spec.root
	if root == nil {
		root = &repb.Directory{}
		for _, name := range sortedKeys(spec.files) {
			data := spec.files[name]
			root.Files = append(root.Files, &repb.FileNode{Name: name, Digest: digest.OfBytes(data).Proto(), IsExecutable: true})
			blobs = append(blobs, data)
		}
	}
	rootBytes, rootDigest := reapitest.Marshal(t, root)
	if !spec.skipRootUpload {
		blobs = append(blobs, rootBytes)
	}
	cmdBytes, cmdDigest := reapitest.Marshal(t, spec.cmd)
	action := &repb.Action{CommandDigest: cmdDigest.Proto(), InputRootDigest: rootDigest.Proto(), Platform: spec.cmd.GetPlatform(), DoNotCache: !spec.cacheable}
	if spec.timeout > 0 {
		action.Timeout = durationpb.New(spec.timeout)
	}
	actionBytes, actionDigest := reapitest.Marshal(t, action)
	blobs = append(blobs, cmdBytes, actionBytes)

	return reapitest.Execute(ctx, t, conn, actionDigest, blobs...), actionDigest
}

func sortedKeys(m map[string][]byte) []string {
	return slices.Sorted(maps.Keys(m))
}
