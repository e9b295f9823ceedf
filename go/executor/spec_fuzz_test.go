package executor

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
	"github.com/actiond/actiond/go/runtimes"
)

// blobStore is a Store holding blobs in memory; prepareSpec only reads.
type blobStore struct {
	Store // nil: nothing else is called
	blobs map[digest.Digest][]byte
}

func (s blobStore) ReadAll(_ context.Context, d digest.Digest, limit int64) ([]byte, error) {
	b, ok := s.blobs[d]
	if !ok {
		return nil, rpcstatus.Newf(codes.NotFound, "%s not found", d)
	}
	if int64(len(b)) > limit {
		return nil, rpcstatus.Newf(codes.InvalidArgument, "%s over the limit", d)
	}
	return b, nil
}

// fuzzRuntimes has one libc runtime and one rootfs runtime.
type fuzzRuntimes struct{ Runtimes }

func (fuzzRuntimes) Names() []string       { return []string{"bookworm"} }
func (fuzzRuntimes) RootfsNames() []string { return []string{"gcc12"} }
func (fuzzRuntimes) Mounts(req runtimes.Request) ([]runtimes.Mount, error) {
	if req.Libc != "" && req.Libc != "bookworm" || req.Rootfs != "" && req.Rootfs != "gcc12" {
		return nil, fmt.Errorf("%q/%q: %w", req.Libc, req.Rootfs, runtimes.ErrUnknownRuntime)
	}
	return []runtimes.Mount{{Source: "/image/lib", Target: "/lib"}}, nil
}

// FuzzPrepareSpec reads an Action and its Command from arbitrary blobs, as
// an Execute request makes the executor do, and validates them into a
// sandbox spec. Refusals must be INVALID_ARGUMENT (or FAILED_PRECONDITION
// for a Command missing from the CAS), never a panic or another code; an
// accepted action must give the sandbox exactly the Command's arguments, an
// environment of unique NAME=VALUE pairs without NUL, a working directory
// inside the execroot, a positive timeout and limits that are not negative.
func FuzzPrepareSpec(f *testing.F) {
	cmd := &repb.Command{
		Arguments:            []string{"/bin/sh", "-c", "echo hi"},
		EnvironmentVariables: []*repb.Command_EnvironmentVariable{{Name: "PATH", Value: "/bin"}, {Name: "Z", Value: "a=b"}},
		WorkingDirectory:     "pkg/sub",
		Platform:             &repb.Platform{Properties: []*repb.Platform_Property{{Name: "libc", Value: "bookworm"}}},
	}
	for _, seed := range []struct {
		action *repb.Action
		cmd    *repb.Command
	}{
		{&repb.Action{}, cmd},
		{&repb.Action{Timeout: durationpb.New(90 * time.Second), DoNotCache: true, Platform: &repb.Platform{Properties: []*repb.Platform_Property{
			{Name: "cpu", Value: "0.5"}, {Name: "memory", Value: "512Mi"}, {Name: "pids", Value: "100"}, {Name: "requires-bash", Value: ""},
		}}}, &repb.Command{Arguments: []string{"a"}, WorkingDirectory: "."}},
		{&repb.Action{Platform: &repb.Platform{Properties: []*repb.Platform_Property{{Name: "runtime", Value: "gcc12"}, {Name: "mutates_inputs", Value: "yes"}}}}, &repb.Command{Arguments: []string{"x"}}},
		{&repb.Action{Timeout: &durationpb.Duration{Seconds: -1}}, cmd},
		{&repb.Action{}, &repb.Command{Arguments: []string{"a"}, WorkingDirectory: "../x"}},
		{&repb.Action{}, &repb.Command{Arguments: []string{"a"}, EnvironmentVariables: []*repb.Command_EnvironmentVariable{{Name: "A"}, {Name: "A"}}}},
	} {
		a, err := proto.Marshal(seed.action)
		if err != nil {
			f.Fatal(err)
		}
		c, err := proto.Marshal(seed.cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(a, c, false)
		f.Add(a, c, true)
	}
	f.Fuzz(func(t *testing.T, actionBlob, cmdBlob []byte, withRuntimes bool) {
		ad, cd := digest.OfBytes(actionBlob), digest.OfBytes(cmdBlob)
		e := &Executor{
			opts:    Options{Store: blobStore{blobs: map[digest.Digest][]byte{ad: actionBlob, cd: cmdBlob}}, DefaultTimeout: time.Minute},
			allowed: map[string]bool{"OSFamily": true},
		}
		if withRuntimes {
			e.opts.Runtimes = fuzzRuntimes{}
		}
		ctx := context.Background()
		action, err := e.loadAction(ctx, ad)
		if err != nil {
			if code := rpcstatus.Code(err); code != codes.InvalidArgument {
				t.Fatalf("loadAction: code %v (%v), want InvalidArgument", code, err)
			}
			return
		}
		if action.CommandDigest == nil {
			// Most inputs cannot name the Command blob by its hash.
			action.CommandDigest = cd.Proto()
		}
		plan, err := e.prepareSpec(ctx, action)
		if err != nil {
			switch code := rpcstatus.Code(err); code {
			case codes.InvalidArgument:
			case codes.FailedPrecondition:
				if d, derr := digest.FromProto(action.CommandDigest); derr != nil || d == cd || d == ad {
					t.Fatalf("prepareSpec: %v, but the Command %v is in the CAS", err, action.CommandDigest)
				}
			default:
				t.Fatalf("prepareSpec: code %v (%v), want InvalidArgument or FailedPrecondition", code, err)
			}
			return
		}
		spec := plan.spec
		if !slices.Equal(spec.Args, plan.cmd.Arguments) || len(spec.Args) == 0 || spec.Args[0] == "" {
			t.Fatalf("args %q from the Command's %q", spec.Args, plan.cmd.Arguments)
		}
		for _, a := range spec.Args {
			if strings.IndexByte(a, 0) >= 0 {
				t.Fatalf("argument %q holds NUL", a)
			}
		}
		if len(spec.Env) != len(plan.cmd.EnvironmentVariables) {
			t.Fatalf("env %q from %d variables", spec.Env, len(plan.cmd.EnvironmentVariables))
		}
		names := map[string]bool{}
		for _, kv := range spec.Env {
			name, _, ok := strings.Cut(kv, "=")
			if !ok || name == "" || strings.IndexByte(kv, 0) >= 0 || names[name] {
				t.Fatalf("env %q: entry %q", spec.Env, kv)
			}
			names[name] = true
		}
		if spec.Dir != ExecRoot && (!strings.HasPrefix(spec.Dir, ExecRoot+"/") || path.Clean(spec.Dir) != spec.Dir) {
			t.Fatalf("working directory %q for %q is not inside %s", spec.Dir, plan.cmd.WorkingDirectory, ExecRoot)
		}
		if spec.Timeout <= 0 {
			t.Fatalf("timeout %v", spec.Timeout)
		}
		if l := spec.Limits; l.MemoryBytes < 0 || l.CPUMillis < 0 || l.Pids < 0 {
			t.Fatalf("limits %+v", l)
		}
		if !withRuntimes && len(spec.Mounts) > 0 {
			t.Fatalf("runtime mounts %v without a runtime image", spec.Mounts)
		}
	})
}
