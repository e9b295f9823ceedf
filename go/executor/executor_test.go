package executor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/executor/executortest"
	"github.com/actiond/actiond/go/rpcstatus"
	"github.com/actiond/actiond/go/sandbox"
)

// env is an Executor over fakes.
type env struct {
	store  *executortest.Store
	cache  *executortest.ActionCache
	roots  *executortest.Roots
	runner *executortest.Runner
	exec   *executor.Executor
	logs   *executortest.SyncBuffer
}

func newEnv(t *testing.T, configure func(*executor.Options)) *env {
	t.Helper()
	e := &env{
		store:  executortest.NewStore(),
		cache:  executortest.NewActionCache(),
		roots:  &executortest.Roots{},
		runner: &executortest.Runner{},
		logs:   &executortest.SyncBuffer{},
	}
	opts := executor.Options{
		Store:       e.store,
		Cache:       e.cache,
		Roots:       e.roots,
		Runner:      e.runner,
		Jobs:        4,
		CancelGrace: 20 * time.Millisecond,
		Logger:      slog.New(slog.NewJSONHandler(e.logs, nil)),
	}
	if configure != nil {
		configure(&opts)
	}
	ex, err := executor.New(opts)
	if err != nil {
		t.Fatalf("executor.New: %v", err)
	}
	t.Cleanup(func() { ex.Close() })
	e.exec = ex
	return e
}

func echoCommand() *repb.Command {
	return &repb.Command{Arguments: []string{"/bin/echo", "hi"}, OutputPaths: []string{"out"}}
}

// action stores cmd and an Action for it (adjusted by mutate) and returns the
// Action's digest.
func (e *env) action(cmd *repb.Command, mutate func(*repb.Action)) *repb.Digest {
	a := &repb.Action{
		CommandDigest:   e.store.AddMessage(cmd).Proto(),
		InputRootDigest: e.store.AddMessage(&repb.Directory{}).Proto(),
	}
	if mutate != nil {
		mutate(a)
	}
	return e.store.AddMessage(a).Proto()
}

func (e *env) start(t *testing.T, ctx context.Context, req *repb.ExecuteRequest) *executor.Operation {
	t.Helper()
	op, err := e.exec.Execute(ctx, req)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return op
}

func (e *env) run(t *testing.T, req *repb.ExecuteRequest) *repb.ExecuteResponse {
	t.Helper()
	return waitDone(t, e.start(t, t.Context(), req))
}

func waitDone(t *testing.T, op *executor.Operation) *repb.ExecuteResponse {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		state, changed := op.State()
		if state.GetDone() {
			resp := &repb.ExecuteResponse{}
			if err := state.GetResponse().UnmarshalTo(resp); err != nil {
				t.Fatalf("operation %s: response is not an ExecuteResponse: %v", op.Name(), err)
			}
			return resp
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("operation %s not done after 10s", op.Name())
		}
	}
}

func stage(t *testing.T, op *executor.Operation) repb.ExecutionStage_Value {
	t.Helper()
	state, _ := op.State()
	md := &repb.ExecuteOperationMetadata{}
	if err := state.GetMetadata().UnmarshalTo(md); err != nil {
		t.Fatalf("metadata is not ExecuteOperationMetadata: %v", err)
	}
	return md.GetStage()
}

func waitStarted(t *testing.T, r *executortest.Runner) sandbox.Spec {
	t.Helper()
	select {
	case spec := <-r.Started():
		return spec
	case <-time.After(10 * time.Second):
		t.Fatal("no run started within 10s")
		return sandbox.Spec{}
	}
}

// eventually polls cond until it holds, failing the test when it still does
// not after a deadline no busy machine reaches.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not so after 10s: %s", what)
		}
	}
}

// waitWaiters waits until n callers wait on the operation called name.
func waitWaiters(t *testing.T, ex *executor.Executor, name string, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d callers wait on %s", n, name), func() bool {
		got, _ := executor.Waiting(ex, name)
		return got == n
	})
}

func wantCode(t *testing.T, resp *repb.ExecuteResponse, want codes.Code) {
	t.Helper()
	if got := codes.Code(resp.GetStatus().GetCode()); got != want {
		t.Fatalf("status = %v %q, want %v", got, resp.GetStatus().GetMessage(), want)
	}
}

func TestExecuteRunsAndCaches(t *testing.T) {
	e := newEnv(t, nil)
	e.roots.Collect = func(ctx context.Context, cmd *repb.Command, res *repb.ActionResult) error {
		res.OutputFiles = append(res.OutputFiles, &repb.OutputFile{Path: "out", Digest: digest.Empty.Proto()})
		return nil
	}
	ad := e.action(echoCommand(), nil)

	resp := e.run(t, &repb.ExecuteRequest{ActionDigest: ad})
	wantCode(t, resp, codes.OK)
	if resp.GetCachedResult() {
		t.Error("first execution: cached_result = true, want false")
	}
	res := resp.GetResult()
	if got := len(res.GetOutputFiles()); got != 1 {
		t.Errorf("output files = %d, want 1", got)
	}
	stdout, err := digest.FromProto(res.GetStdoutDigest())
	if err != nil {
		t.Fatalf("stdout digest: %v", err)
	}
	if b, _ := e.store.Blob(stdout); string(b) != "out" {
		t.Errorf("stdout blob = %q, want %q", b, "out")
	}
	if res.GetStderrDigest() != nil {
		t.Errorf("stderr digest = %v for empty stderr, want none", res.GetStderrDigest())
	}
	md := res.GetExecutionMetadata()
	if md.GetWorker() != "actiond" {
		t.Errorf("worker = %q, want actiond", md.GetWorker())
	}
	for name, ts := range map[string]*timestamppb.Timestamp{
		"queued": md.GetQueuedTimestamp(), "worker_start": md.GetWorkerStartTimestamp(),
		"input_fetch_start": md.GetInputFetchStartTimestamp(), "input_fetch_completed": md.GetInputFetchCompletedTimestamp(),
		"execution_start": md.GetExecutionStartTimestamp(), "execution_completed": md.GetExecutionCompletedTimestamp(),
		"output_upload_start": md.GetOutputUploadStartTimestamp(), "output_upload_completed": md.GetOutputUploadCompletedTimestamp(),
		"worker_completed": md.GetWorkerCompletedTimestamp(),
	} {
		if !ts.IsValid() || ts.AsTime().Unix() == 0 {
			t.Errorf("%s timestamp missing", name)
		}
	}
	if e.cache.Puts() != 1 {
		t.Errorf("action cache writes = %d, want 1", e.cache.Puts())
	}

	again := e.run(t, &repb.ExecuteRequest{ActionDigest: ad})
	wantCode(t, again, codes.OK)
	if !again.GetCachedResult() {
		t.Error("second execution: cached_result = false, want true")
	}
	if e.runner.Runs() != 1 {
		t.Errorf("runs = %d, want 1 (second answered from cache)", e.runner.Runs())
	}
	// Roots are released after the response is out; Close waits for that.
	e.exec.Close()
	if e.roots.Open() != 0 {
		t.Errorf("input roots left open = %d, want 0", e.roots.Open())
	}
}

func TestCachePolicy(t *testing.T) {
	for _, tc := range []struct {
		name       string
		doNotCache bool
		skipLookup bool
		preCached  bool
		result     sandbox.Result
		stdioErr   bool
		wantRuns   int
		wantCached bool
		wantPuts   int
		wantCode   codes.Code
		wantExit   int32
	}{
		{name: "hit", preCached: true, wantRuns: 0, wantCached: true, wantPuts: 1},
		{name: "skip_cache_lookup runs and overwrites", preCached: true, skipLookup: true, wantRuns: 1, wantPuts: 2},
		{name: "do_not_cache runs and writes nothing", doNotCache: true, wantRuns: 1, wantPuts: 0},
		{name: "do_not_cache ignores a cached entry", doNotCache: true, preCached: true, wantRuns: 1, wantPuts: 1},
		{name: "failed action is not cached", result: sandbox.Result{ExitCode: 3}, wantRuns: 1, wantPuts: 0, wantExit: 3},
		{name: "signal is 128+N and not cached", result: sandbox.Result{Signal: syscall.SIGKILL}, wantRuns: 1, wantPuts: 0, wantExit: 137},
		{name: "timeout is DEADLINE_EXCEEDED and not cached", result: sandbox.Result{TimedOut: true, Signal: syscall.SIGKILL}, wantRuns: 1, wantPuts: 0, wantCode: codes.DeadlineExceeded, wantExit: 137},
		{name: "too much output is RESOURCE_EXHAUSTED", result: sandbox.Result{OutputTooLarge: true}, wantRuns: 1, wantPuts: 0, wantCode: codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.runner.Func = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
				if _, err := executortest.WriteStdio(spec, "partial", "err"); err != nil {
					return sandbox.Result{}, err
				}
				return tc.result, nil
			}
			ad := e.action(echoCommand(), func(a *repb.Action) { a.DoNotCache = tc.doNotCache })
			d, _ := digest.FromProto(ad)
			if tc.preCached {
				e.cache.Put(t.Context(), d, &repb.ActionResult{ExitCode: 0, ExecutionMetadata: &repb.ExecutedActionMetadata{Worker: "earlier"}})
			}
			resp := e.run(t, &repb.ExecuteRequest{ActionDigest: ad, SkipCacheLookup: tc.skipLookup})
			wantCode(t, resp, tc.wantCode)
			if got := resp.GetCachedResult(); got != tc.wantCached {
				t.Errorf("cached_result = %v, want %v", got, tc.wantCached)
			}
			if got := e.runner.Runs(); got != tc.wantRuns {
				t.Errorf("runs = %d, want %d", got, tc.wantRuns)
			}
			if got := e.cache.Puts(); got != tc.wantPuts {
				t.Errorf("action cache writes = %d, want %d", got, tc.wantPuts)
			}
			if got := resp.GetResult().GetExitCode(); got != tc.wantExit {
				t.Errorf("exit code = %d, want %d", got, tc.wantExit)
			}
			if tc.wantRuns > 0 && resp.GetResult().GetStderrDigest() == nil {
				t.Error("stderr digest missing: what a failed or timed-out action produced must be returned")
			}
		})
	}
}

func TestTimeoutIsPassedToTheSandbox(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout *durationpb.Duration
		want    time.Duration
	}{
		{name: "action timeout", timeout: durationpb.New(3 * time.Second), want: 3 * time.Second},
		{name: "absent uses default", want: 42 * time.Second},
		{name: "zero uses default", timeout: durationpb.New(0), want: 42 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *executor.Options) { o.DefaultTimeout = 42 * time.Second })
			ad := e.action(echoCommand(), func(a *repb.Action) { a.Timeout = tc.timeout })
			wantCode(t, e.run(t, &repb.ExecuteRequest{ActionDigest: ad}), codes.OK)
			if got := e.runner.Specs()[0].Timeout; got != tc.want {
				t.Errorf("sandbox timeout = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSpecFromCommand(t *testing.T) {
	e := newEnv(t, func(o *executor.Options) {
		o.Runtimes = &executortest.Runtimes{Libcs: []string{"glibc2.35"}}
		o.AllowedProperties = []string{"OSFamily"}
	})
	cmd := &repb.Command{
		Arguments:            []string{"tool", "--flag"},
		EnvironmentVariables: []*repb.Command_EnvironmentVariable{{Name: "A", Value: "1"}, {Name: "PATH", Value: "/bin"}},
		WorkingDirectory:     "sub/dir",
		// Ignored: the Action's platform wins.
		Platform: &repb.Platform{Properties: []*repb.Platform_Property{{Name: "libc", Value: "bogus"}}},
	}
	ad := e.action(cmd, func(a *repb.Action) {
		a.Platform = &repb.Platform{Properties: []*repb.Platform_Property{
			{Name: "OSFamily", Value: "Linux"},
			{Name: "libc", Value: "glibc2.35"},
			{Name: "memory", Value: "512M"},
			{Name: "requires-bash", Value: ""},
		}}
	})
	wantCode(t, e.run(t, &repb.ExecuteRequest{ActionDigest: ad}), codes.OK)
	spec := e.runner.Specs()[0]
	if want := []string{"tool", "--flag"}; !slices.Equal(spec.Args, want) {
		t.Errorf("args = %q, want %q", spec.Args, want)
	}
	if want := []string{"A=1", "PATH=/bin"}; !slices.Equal(spec.Env, want) {
		t.Errorf("env = %q, want %q", spec.Env, want)
	}
	if want := "/execroot/sub/dir"; spec.Dir != want {
		t.Errorf("dir = %q, want %q", spec.Dir, want)
	}
	if want := int64(512 << 20); spec.Limits.MemoryBytes != want {
		t.Errorf("memory limit = %d, want %d", spec.Limits.MemoryBytes, want)
	}
	if spec.UID != 65534 || spec.GID != 65534 {
		t.Errorf("uid/gid = %d/%d, want 65534/65534", spec.UID, spec.GID)
	}
	targets := map[string]sandbox.Mount{}
	for _, m := range spec.Mounts {
		targets[m.Target] = m
	}
	for _, target := range []string{"/execroot", "/etc", "/lib", "/bin", "/usr/bin"} {
		if _, ok := targets[target]; !ok {
			t.Errorf("no mount at %s; mounts: %+v", target, spec.Mounts)
		}
	}
	if m := targets["/lib"]; m.Source != "/runtimes/glibc2.35/lib" || !m.ReadOnly {
		t.Errorf("/lib mount = %+v, want read-only from the glibc2.35 runtime", m)
	}
}

func TestRootfsRuntime(t *testing.T) {
	for _, tc := range []struct {
		name       string
		props      []string
		wantMounts map[string]string // target -> source
	}{
		{"rootfs", []string{"runtime", "gcc12"}, map[string]string{"/etc": "/runtimes/common/etc", "/usr": "/runtimes/gcc12/usr", "/bin": "/runtimes/gcc12/bin"}},
		{"with libc none", []string{"runtime", "gcc12", "libc", "none"}, map[string]string{"/etc": "/runtimes/common/etc", "/usr": "/runtimes/gcc12/usr", "/bin": "/runtimes/gcc12/bin"}},
		// requires-bash is met by the rootfs's own /bin/bash: the static
		// bash is not mounted over it.
		{"bash from the rootfs", []string{"runtime", "gcc12", "requires-bash", ""}, map[string]string{"/etc": "/runtimes/common/etc", "/usr": "/runtimes/gcc12/usr", "/bin": "/runtimes/gcc12/bin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *executor.Options) {
				o.Runtimes = &executortest.Runtimes{Libcs: []string{"glibc2.35"}, Rootfs: []string{"gcc12"}, RootfsWithBash: []string{"gcc12"}}
			})
			ad := e.action(echoCommand(), func(a *repb.Action) {
				a.Platform = &repb.Platform{}
				for i := 0; i < len(tc.props); i += 2 {
					a.Platform.Properties = append(a.Platform.Properties, &repb.Platform_Property{Name: tc.props[i], Value: tc.props[i+1]})
				}
			})
			wantCode(t, e.run(t, &repb.ExecuteRequest{ActionDigest: ad}), codes.OK)
			spec := e.runner.Specs()[0]
			got := map[string]string{}
			for i, m := range spec.Mounts {
				if strings.HasPrefix(m.Target, "/execroot") {
					// The inputs go on top of every runtime mount.
					for _, later := range spec.Mounts[i:] {
						if !strings.HasPrefix(later.Target, "/execroot") {
							t.Errorf("runtime mount %+v comes after the input root's; mounts: %+v", later, spec.Mounts)
						}
					}
					continue
				}
				if !m.ReadOnly {
					t.Errorf("mount %+v is writable, want read-only", m)
				}
				got[m.Target] = m.Source
			}
			if !reflect.DeepEqual(got, tc.wantMounts) {
				t.Errorf("runtime mounts = %v, want %v", got, tc.wantMounts)
			}
		})
	}
}

func TestCommandPlatformIsTheFallback(t *testing.T) {
	e := newEnv(t, nil)
	cmd := echoCommand()
	cmd.Platform = &repb.Platform{Properties: []*repb.Platform_Property{{Name: "pids", Value: "64"}}}
	wantCode(t, e.run(t, &repb.ExecuteRequest{ActionDigest: e.action(cmd, nil)}), codes.OK)
	if got := e.runner.Specs()[0].Limits.Pids; got != 64 {
		t.Errorf("pids limit = %d, want 64 (from the Command's platform)", got)
	}
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        sandbox.Limits
	}{
		{"limits.memory.bytes", "1048576", sandbox.Limits{MemoryBytes: 1 << 20}},
		{"memory", "512K", sandbox.Limits{MemoryBytes: 512 << 10}},
		{"memory_bytes", "2G", sandbox.Limits{MemoryBytes: 2 << 30}},
		{"resources:memory:bytes", "3Mi", sandbox.Limits{MemoryBytes: 3 << 20}},
		{"limits.cpu.cores", "2", sandbox.Limits{CPUMillis: 2000}},
		{"cpu", "0.5", sandbox.Limits{CPUMillis: 500}},
		{"cores", "250m", sandbox.Limits{CPUMillis: 250}},
		{"resources:cpu:cores", "1", sandbox.Limits{CPUMillis: 1000}},
		{"limits.pids.max", "10", sandbox.Limits{Pids: 10}},
		{"pids.max", "20", sandbox.Limits{Pids: 20}},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			e := newEnv(t, nil)
			ad := e.action(echoCommand(), func(a *repb.Action) {
				a.Platform = &repb.Platform{Properties: []*repb.Platform_Property{{Name: tc.name, Value: tc.value}}}
			})
			wantCode(t, e.run(t, &repb.ExecuteRequest{ActionDigest: ad}), codes.OK)
			if got := e.runner.Specs()[0].Limits; got != tc.want {
				t.Errorf("limits = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestInvalidRequests(t *testing.T) {
	props := func(kv ...string) func(*repb.Action) {
		return func(a *repb.Action) {
			a.Platform = &repb.Platform{}
			for i := 0; i < len(kv); i += 2 {
				a.Platform.Properties = append(a.Platform.Properties, &repb.Platform_Property{Name: kv[i], Value: kv[i+1]})
			}
		}
	}
	withRuntimes := func(o *executor.Options) {
		o.Runtimes = &executortest.Runtimes{Libcs: []string{"glibc2.31", "glibc2.35"}, Rootfs: []string{"gcc12", "clang19"}}
	}
	libcOnly := func(o *executor.Options) {
		o.Runtimes = &executortest.Runtimes{Libcs: []string{"glibc2.35"}}
	}
	for _, tc := range []struct {
		name      string
		configure func(*executor.Options)
		cmd       *repb.Command
		action    func(*repb.Action)
		want      []string // substrings of the status message
	}{
		{name: "unknown property", action: props("container-image", "docker://x"), want: []string{`"container-image"`, "libc", "requires-bash"}},
		{name: "unknown libc", configure: withRuntimes, action: props("libc", "musl"), want: []string{`"musl"`, "glibc2.31, glibc2.35"}},
		{name: "libc without runtimes", action: props("libc", "glibc2.35"), want: []string{"without a runtime image"}},
		{name: "bash without runtimes", action: props("requires-bash", ""), want: []string{"without a runtime image"}},
		{name: "rootfs without runtimes", action: props("runtime", "gcc12"), want: []string{"without a runtime image"}},
		{name: "unknown rootfs", configure: withRuntimes, action: props("runtime", "gcc13"), want: []string{`runtime="gcc13"`, "clang19, gcc12"}},
		{name: "libc name as rootfs", configure: withRuntimes, action: props("runtime", "glibc2.35"), want: []string{`runtime="glibc2.35"`, "clang19, gcc12"}},
		{name: "rootfs when the image has none", configure: libcOnly, action: props("runtime", "gcc12"), want: []string{`runtime="gcc12"`, "has no rootfs runtimes"}},
		{name: "rootfs and libc", configure: withRuntimes, action: props("runtime", "gcc12", "libc", "glibc2.35"), want: []string{"exclude each other", "brings its own libc"}},
		{name: "rootfs and unknown libc", configure: withRuntimes, action: props("libc", "musl", "runtime", "gcc12"), want: []string{"brings its own libc"}},
		{name: "bash from a rootfs without it", configure: withRuntimes, action: props("runtime", "clang19", "requires-bash", ""), want: []string{"clang19 has no bash"}},
		{name: "bad memory", action: props("memory", "lots"), want: []string{`"memory"`, "lots"}},
		{name: "bad memory unit", action: props("memory", "5X"), want: []string{"unit"}},
		{name: "zero cpu", action: props("cpu", "0"), want: []string{`"cpu"`}},
		{name: "negative pids", action: props("pids", "-1"), want: []string{`"pids"`}},
		{name: "two memory aliases", action: props("memory", "1G", "memory_bytes", "2G"), want: []string{"same limit"}},
		{name: "repeated property", action: props("libc", "none", "libc", "glibc2.35"), want: []string{"twice"}},
		{name: "bad mutates_inputs", action: props("mutates_inputs", "maybe"), want: []string{`"mutates_inputs"`, "maybe"}},
		{name: "negative timeout", action: func(a *repb.Action) { a.Timeout = durationpb.New(-time.Second) }, want: []string{"negative"}},
		{name: "oversized action", action: func(a *repb.Action) { a.Salt = make([]byte, 2<<20) }, want: []string{"more than the 1048576 bytes"}},
		{name: "no arguments", cmd: &repb.Command{}, want: []string{"arguments empty"}},
		{name: "env name with =", cmd: &repb.Command{Arguments: []string{"x"}, EnvironmentVariables: []*repb.Command_EnvironmentVariable{{Name: "A=B"}}}, want: []string{`"A=B"`}},
		{name: "empty env name", cmd: &repb.Command{Arguments: []string{"x"}, EnvironmentVariables: []*repb.Command_EnvironmentVariable{{Value: "v"}}}, want: []string{"empty name"}},
		{name: "escaping working directory", cmd: &repb.Command{Arguments: []string{"x"}, WorkingDirectory: "../up"}, want: []string{"../up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.configure)
			cmd := tc.cmd
			if cmd == nil {
				cmd = echoCommand()
			}
			resp := e.run(t, &repb.ExecuteRequest{ActionDigest: e.action(cmd, tc.action)})
			wantCode(t, resp, codes.InvalidArgument)
			for _, want := range tc.want {
				if !strings.Contains(resp.GetStatus().GetMessage(), want) {
					t.Errorf("message %q does not contain %q", resp.GetStatus().GetMessage(), want)
				}
			}
			if e.runner.Runs() != 0 || e.cache.Puts() != 0 {
				t.Errorf("runs = %d, cache writes = %d; want 0 and 0 for a bad request", e.runner.Runs(), e.cache.Puts())
			}
		})
	}
}

func TestAllowedPropertyIsIgnored(t *testing.T) {
	e := newEnv(t, func(o *executor.Options) { o.AllowedProperties = []string{"container-image"} })
	ad := e.action(echoCommand(), func(a *repb.Action) {
		a.Platform = &repb.Platform{Properties: []*repb.Platform_Property{{Name: "container-image", Value: "docker://x"}}}
	})
	wantCode(t, e.run(t, &repb.ExecuteRequest{ActionDigest: ad}), codes.OK)
}

func TestMissingBlobs(t *testing.T) {
	missing := digest.OfBytes([]byte("not uploaded"))
	for _, tc := range []struct {
		name   string
		digest func(e *env) *repb.Digest
	}{
		{name: "action", digest: func(e *env) *repb.Digest { return missing.Proto() }},
		{name: "command", digest: func(e *env) *repb.Digest {
			return e.store.AddMessage(&repb.Action{CommandDigest: missing.Proto(), InputRootDigest: digest.Empty.Proto()}).Proto()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			resp := e.run(t, &repb.ExecuteRequest{ActionDigest: tc.digest(e)})
			wantCode(t, resp, codes.FailedPrecondition)
			var subjects []string
			for _, detail := range status.FromProto(resp.GetStatus()).Details() {
				if pf, ok := detail.(*errdetails.PreconditionFailure); ok {
					for _, v := range pf.GetViolations() {
						if v.GetType() == "MISSING" {
							subjects = append(subjects, v.GetSubject())
						}
					}
				}
			}
			if want := []string{"blobs/" + missing.String()}; !slices.Equal(subjects, want) {
				t.Errorf("MISSING violations = %q, want %q", subjects, want)
			}
		})
	}
}

func TestInputRootErrorKeepsCodeAndDetails(t *testing.T) {
	e := newEnv(t, nil)
	st, _ := status.New(codes.FailedPrecondition, "input blob missing").WithDetails(&errdetails.PreconditionFailure{
		Violations: []*errdetails.PreconditionFailure_Violation{{Type: "MISSING", Subject: "blobs/" + digest.OfBytes([]byte("x")).String()}},
	})
	e.roots.PrepareErr = st.Err()
	resp := e.run(t, &repb.ExecuteRequest{ActionDigest: e.action(echoCommand(), nil)})
	wantCode(t, resp, codes.FailedPrecondition)
	if n := len(resp.GetStatus().GetDetails()); n != 1 {
		t.Errorf("details = %d, want the PreconditionFailure kept", n)
	}
}

func TestInfrastructureErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		runErr     error
		collectErr error
		want       codes.Code
		wantResult bool
	}{
		{name: "sandbox setup failure", runErr: errors.New("clone: operation not permitted"), want: codes.Internal},
		{name: "output budget", collectErr: rpcstatus.Newf(codes.ResourceExhausted, "outputs exceed 4 GiB"), want: codes.ResourceExhausted, wantResult: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.runner.Func = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
				if tc.runErr != nil {
					return sandbox.Result{}, tc.runErr
				}
				return executortest.WriteStdio(spec, "", "")
			}
			e.roots.Collect = func(context.Context, *repb.Command, *repb.ActionResult) error { return tc.collectErr }
			resp := e.run(t, &repb.ExecuteRequest{ActionDigest: e.action(echoCommand(), nil)})
			wantCode(t, resp, tc.want)
			if got := resp.GetResult() != nil; got != tc.wantResult {
				t.Errorf("has result = %v, want %v", got, tc.wantResult)
			}
			if e.cache.Puts() != 0 {
				t.Errorf("action cache writes = %d, want 0", e.cache.Puts())
			}
		})
	}
}

func TestFirstErrorWins(t *testing.T) {
	e := newEnv(t, nil)
	e.runner.Func = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
		executortest.WriteStdio(spec, "", "")
		return sandbox.Result{TimedOut: true}, nil
	}
	e.roots.Collect = func(context.Context, *repb.Command, *repb.ActionResult) error {
		return rpcstatus.Newf(codes.Internal, "later error")
	}
	resp := e.run(t, &repb.ExecuteRequest{ActionDigest: e.action(echoCommand(), nil)})
	wantCode(t, resp, codes.DeadlineExceeded)
}

func TestIdenticalInFlightActionsRunOnce(t *testing.T) {
	e := newEnv(t, nil)
	release := make(chan struct{})
	e.runner.Func = executortest.BlockUntil(release)
	ad := e.action(echoCommand(), nil)

	first := e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: ad})
	waitStarted(t, e.runner)
	second := e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: ad, SkipCacheLookup: true})
	if first.Name() != second.Name() {
		t.Errorf("operation names %q and %q differ, want the second joined to the first", first.Name(), second.Name())
	}
	close(release)
	for _, op := range []*executor.Operation{first, second} {
		resp := waitDone(t, op)
		wantCode(t, resp, codes.OK)
		if resp.GetResult().GetStdoutDigest() == nil {
			t.Error("a caller got no stdout")
		}
	}
	if got := e.runner.Runs(); got != 1 {
		t.Errorf("runs = %d, want 1", got)
	}
}

func TestDoNotCacheActionsAreNotMerged(t *testing.T) {
	e := newEnv(t, nil)
	release := make(chan struct{})
	e.runner.Func = executortest.BlockUntil(release)
	ad := e.action(echoCommand(), func(a *repb.Action) { a.DoNotCache = true })
	first := e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: ad})
	second := e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: ad})
	waitStarted(t, e.runner)
	waitStarted(t, e.runner)
	close(release)
	waitDone(t, first)
	waitDone(t, second)
	if got := e.runner.Runs(); got != 2 {
		t.Errorf("runs = %d, want 2", got)
	}
}

func TestCancelSoleWaiterKillsAction(t *testing.T) {
	for _, queued := range []bool{false, true} {
		name := "running"
		if queued {
			name = "queued"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(o *executor.Options) { o.Jobs = 1 })
			release := make(chan struct{})
			defer close(release)
			e.runner.Func = executortest.BlockUntil(release)
			if queued {
				// Occupy the only job so the action under test stays queued.
				e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: e.action(&repb.Command{Arguments: []string{"blocker"}}, nil)})
				waitStarted(t, e.runner)
			}
			ctx, cancel := context.WithCancel(t.Context())
			op := e.start(t, ctx, &repb.ExecuteRequest{ActionDigest: e.action(echoCommand(), nil)})
			if queued {
				eventually(t, "the action waits for the job slot", func() bool { return executor.SlotWaiters(e.exec) == 1 })
			} else {
				waitStarted(t, e.runner)
			}
			cancel()
			// op.State does not count as waiting, so nobody waits now.
			resp := waitDone(t, op)
			wantCode(t, resp, codes.Canceled)
			if e.cache.Puts() != 0 {
				t.Errorf("action cache writes = %d, want 0", e.cache.Puts())
			}
			// Running: the action itself ran once. Queued: only the blocker
			// ran; the cancelled action never reached the sandbox.
			if got := e.runner.Runs(); got != 1 {
				t.Errorf("runs = %d, want 1", got)
			}
		})
	}
}

func TestCancelWithOtherWaiterKeepsRunning(t *testing.T) {
	// A grace longer than the test: a kill scheduled by mistake stays
	// visible instead of firing at a moment the test cannot know.
	e := newEnv(t, func(o *executor.Options) { o.CancelGrace = time.Hour })
	release := make(chan struct{})
	e.runner.Func = executortest.BlockUntil(release)
	ad := e.action(echoCommand(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	e.start(t, ctx, &repb.ExecuteRequest{ActionDigest: ad})
	waitStarted(t, e.runner)
	other := e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: ad})
	waitWaiters(t, e.exec, other.Name(), 2)
	cancel()
	waitWaiters(t, e.exec, other.Name(), 1)
	if _, scheduled := executor.Waiting(e.exec, other.Name()); scheduled {
		t.Error("the action's kill is scheduled although a caller still waits")
	}
	close(release)
	wantCode(t, waitDone(t, other), codes.OK)
	if e.cache.Puts() != 1 {
		t.Errorf("action cache writes = %d, want 1", e.cache.Puts())
	}
}

func TestWaitExecutionAfterExecuteStreamDropped(t *testing.T) {
	// A grace longer than the test, so that the reattach cannot race the
	// kill.
	e := newEnv(t, func(o *executor.Options) { o.CancelGrace = time.Hour })
	release := make(chan struct{})
	e.runner.Func = executortest.BlockUntil(release)
	ctx, cancel := context.WithCancel(t.Context())
	op := e.start(t, ctx, &repb.ExecuteRequest{ActionDigest: e.action(echoCommand(), nil)})
	waitStarted(t, e.runner)
	again := reattach(t, e.exec, op, cancel)
	close(release)
	wantCode(t, waitDone(t, again), codes.OK)

	// Finished operations can still be looked up.
	done, err := e.exec.Wait(t.Context(), op.Name())
	if err != nil {
		t.Fatalf("Wait after completion: %v", err)
	}
	wantCode(t, waitDone(t, done), codes.OK)
}

// reattach drops the Execute stream of op (cancel) and reattaches a
// WaitExecution caller: once the executor noticed that nobody waits (the
// kill is scheduled) it calls Wait, and checks that this calls the kill off
// while the action is still executing.
func reattach(t *testing.T, ex *executor.Executor, op *executor.Operation, cancel context.CancelFunc) *executor.Operation {
	t.Helper()
	cancel()
	eventually(t, "the kill is scheduled once nobody waits", func() bool {
		waiters, scheduled := executor.Waiting(ex, op.Name())
		return waiters == 0 && scheduled
	})
	again, err := ex.Wait(t.Context(), op.Name())
	if err != nil {
		t.Fatalf("Wait(%q): %v", op.Name(), err)
	}
	if waiters, scheduled := executor.Waiting(ex, op.Name()); waiters != 1 || scheduled {
		t.Errorf("after reattaching: %d waiters, kill scheduled %v; want 1 and false", waiters, scheduled)
	}
	if got := stage(t, again); got != repb.ExecutionStage_EXECUTING {
		t.Errorf("stage after reattaching = %v, want EXECUTING", got)
	}
	return again
}

func TestWaitUnknownOperation(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.exec.Wait(t.Context(), "operations/does-not-exist")
	if got := status.Code(err); got != codes.NotFound {
		t.Errorf("Wait(unknown) = %v, want NOT_FOUND", err)
	}
}

func TestExecuteRejectsBadDigest(t *testing.T) {
	e := newEnv(t, nil)
	for _, req := range []*repb.ExecuteRequest{
		{},
		{ActionDigest: &repb.Digest{Hash: "abc", SizeBytes: 1}},
		{ActionDigest: digest.Empty.Proto(), DigestFunction: repb.DigestFunction_BLAKE3},
	} {
		if _, err := e.exec.Execute(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Execute(%v) = %v, want INVALID_ARGUMENT", req, err)
		}
	}
}

func TestQueueIsBoundedByJobs(t *testing.T) {
	e := newEnv(t, func(o *executor.Options) { o.Jobs = 2 })
	release := make(chan struct{})
	e.runner.Func = executortest.BlockUntil(release)
	var ops []*executor.Operation
	for i := range 5 {
		cmd := &repb.Command{Arguments: []string{"job", string(rune('a' + i))}}
		ops = append(ops, e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: e.action(cmd, nil)}))
	}
	waitStarted(t, e.runner)
	waitStarted(t, e.runner)
	// Once three wait for a slot, none of them can still start wrongly.
	eventually(t, "three actions wait for a job slot", func() bool { return executor.SlotWaiters(e.exec) == 3 })
	var queued int
	for _, op := range ops {
		if stage(t, op) == repb.ExecutionStage_QUEUED {
			queued++
		}
	}
	if queued != 3 {
		t.Errorf("queued operations = %d, want 3 of 5 with 2 jobs", queued)
	}
	close(release)
	for _, op := range ops {
		wantCode(t, waitDone(t, op), codes.OK)
	}
	if got := e.runner.MaxConcurrent(); got != 2 {
		t.Errorf("most concurrent runs = %d, want 2", got)
	}
}

// TestQueueOrdersByPriority: with every job slot busy, queued actions start
// in order of ExecutionPolicy.priority, lowest value first.
func TestQueueOrdersByPriority(t *testing.T) {
	e := newEnv(t, func(o *executor.Options) { o.Jobs = 1 })
	release := make(chan struct{})
	e.runner.Func = executortest.BlockUntil(release)
	started := e.runner.Started()
	blocker := e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: e.action(&repb.Command{Arguments: []string{"job", "blocker"}}, nil)})
	<-started
	var ops []*executor.Operation
	for _, job := range []struct {
		name     string
		priority int32
	}{{"late", 5}, {"urgent", -3}, {"default", 0}, {"urgent2", -3}} {
		cmd := &repb.Command{Arguments: []string{"job", job.name}}
		ops = append(ops, e.start(t, t.Context(), &repb.ExecuteRequest{
			ActionDigest:    e.action(cmd, nil),
			ExecutionPolicy: &repb.ExecutionPolicy{Priority: job.priority},
		}))
	}
	eventually(t, "every queued action waits for the job slot", func() bool { return executor.SlotWaiters(e.exec) == len(ops) })
	close(release)
	var order []string
	for range ops {
		order = append(order, (<-started).Args[1])
	}
	if want := []string{"urgent", "urgent2", "default", "late"}; !slices.Equal(order, want) {
		t.Errorf("queued actions started in order %v, want %v", order, want)
	}
	for _, op := range append(ops, blocker) {
		wantCode(t, waitDone(t, op), codes.OK)
	}
}

func TestCloseKillsRunningActions(t *testing.T) {
	e := newEnv(t, nil)
	release := make(chan struct{})
	defer close(release)
	e.runner.Func = executortest.BlockUntil(release)
	op := e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: e.action(echoCommand(), nil)})
	waitStarted(t, e.runner)
	e.exec.Close()
	wantCode(t, waitDone(t, op), codes.Unavailable)
	if _, err := e.exec.Execute(t.Context(), &repb.ExecuteRequest{ActionDigest: e.action(echoCommand(), nil)}); status.Code(err) != codes.Unavailable {
		t.Errorf("Execute after Close = %v, want UNAVAILABLE", err)
	}
}

func TestTimingLog(t *testing.T) {
	clock := time.Unix(1000, 0)
	var mu sync.Mutex
	e := newEnv(t, func(o *executor.Options) {
		o.Now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			clock = clock.Add(time.Millisecond)
			return clock
		}
	})
	e.runner.Func = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
		executortest.WriteStdio(spec, "", "")
		return sandbox.Result{Timings: sandbox.Timings{Setup: 1500 * time.Microsecond, Spawn: 1250 * time.Microsecond, Run: 7 * time.Millisecond, Teardown: 250 * time.Microsecond}}, nil
	}
	ad := e.action(echoCommand(), nil)
	e.run(t, &repb.ExecuteRequest{ActionDigest: ad})
	e.run(t, &repb.ExecuteRequest{ActionDigest: ad})

	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if rec["msg"] == "action done" {
			lines = append(lines, rec)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("action done lines = %d, want 2:\n%s", len(lines), e.logs.String())
	}
	d, _ := digest.FromProto(ad)
	for i, wantCached := range []bool{false, true} {
		rec := lines[i]
		if rec["action_digest"] != d.String() || rec["cached"] != wantCached || rec["exit_code"] != float64(0) {
			t.Errorf("line %d = %v, want action_digest %s, cached %v, exit_code 0", i, rec, d, wantCached)
		}
		for _, key := range []string{"queue_ms", "input_ms", "setup_ms", "spawn_ms", "run_ms", "teardown_ms", "output_ms", "total_ms"} {
			if _, ok := rec[key].(float64); !ok {
				t.Errorf("line %d: %s = %v, want a number", i, key, rec[key])
			}
		}
	}
	if got := lines[0]["setup_ms"]; got != 1.5 {
		t.Errorf("setup_ms = %v, want 1.5", got)
	}
	if got := lines[0]["spawn_ms"]; got != 1.25 {
		t.Errorf("spawn_ms = %v, want 1.25", got)
	}
	if got := lines[0]["run_ms"]; got != float64(7) {
		t.Errorf("run_ms = %v, want 7", got)
	}
	if got := lines[0]["teardown_ms"]; got != 0.25 {
		t.Errorf("teardown_ms = %v, want 0.25", got)
	}
	if got := lines[0]["total_ms"].(float64); got <= 0 {
		t.Errorf("total_ms = %v, want > 0", got)
	}
}

// TestPanicsCompleteTheOperation checks that a panic while running an
// action (in the sandbox or in output collection, both fed by client data)
// completes that operation with INTERNAL, releases its job slot and input
// root, and leaves the executor serving.
func TestPanicsCompleteTheOperation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		run     func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error)
		collect func(context.Context, *repb.Command, *repb.ActionResult) error
	}{
		{name: "in the sandbox", run: func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
			var m map[string]int
			m["boom"]++
			return sandbox.Result{}, nil
		}},
		{name: "collecting outputs", collect: func(ctx context.Context, cmd *repb.Command, res *repb.ActionResult) error {
			_ = res.GetOutputFiles()[7] // index out of range
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *executor.Options) { o.Jobs = 1 })
			e.runner.Func = tc.run
			e.roots.Collect = tc.collect
			resp := e.run(t, &repb.ExecuteRequest{ActionDigest: e.action(echoCommand(), nil)})
			wantCode(t, resp, codes.Internal)
			if !strings.Contains(resp.GetStatus().GetMessage(), "panic") {
				t.Errorf("message %q does not mention the panic", resp.GetStatus().GetMessage())
			}
			if n := e.roots.Open(); n != 0 {
				t.Errorf("%d input roots left open", n)
			}
			if !strings.Contains(e.logs.String(), "panic while running an action") {
				t.Errorf("the panic was not logged: %s", e.logs.String())
			}
			// The only job slot must be free again.
			e.runner.Func, e.roots.Collect = nil, nil
			wantCode(t, e.run(t, &repb.ExecuteRequest{ActionDigest: e.action(&repb.Command{Arguments: []string{"/bin/true"}}, nil)}), codes.OK)
		})
	}
}

// TestFinishedOperationsAreCapped finishes more operations than
// MaxRetained: the oldest can no longer be looked up, the newest can.
func TestFinishedOperationsAreCapped(t *testing.T) {
	e := newEnv(t, func(o *executor.Options) { o.MaxRetained = 2 })
	var names []string
	for i := range 3 {
		cmd := &repb.Command{Arguments: []string{"/bin/echo", fmt.Sprint(i)}}
		op := e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: e.action(cmd, nil)})
		waitDone(t, op)
		names = append(names, op.Name())
	}
	for i, name := range names {
		_, err := e.exec.Lookup(name)
		if want := i > 0; (err == nil) != want {
			t.Errorf("Lookup(operation %d of 3) = %v, want found %v", i, err, want)
		}
		if i == 0 && status.Code(err) != codes.NotFound {
			t.Errorf("Lookup(the oldest) = %v, want NOT_FOUND", err)
		}
	}
}
