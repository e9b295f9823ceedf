//go:build linux

package executor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/actiond/actiond/go/actioncache"
	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/internal/testbin"
	"github.com/actiond/actiond/go/sandbox"
)

var (
	toolOnce sync.Once
	toolPath string
	toolErr  error
)

// buildTool builds testdata/tool as a static binary, once per test binary.
func buildTool(t testing.TB) []byte {
	t.Helper()
	toolOnce.Do(func() {
		dir, err := os.MkdirTemp("", "executor-tool-")
		if err != nil {
			toolErr = err
			return
		}
		toolPath, toolErr = testbin.Path("TOOL_BIN", "./testdata/tool", dir)
	})
	if toolErr != nil {
		t.Fatalf("building testdata/tool: %v", toolErr)
	}
	b, err := os.ReadFile(toolPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realEnv is an Executor over the real CAS, action cache, execroot and
// sandbox.
type realEnv struct {
	root  string
	store *cas.Store
	cache *actioncache.Cache
	exec  *executor.Executor
	tool  digest.Digest
}

// newRealEnv makes a realEnv; configure, when set, adjusts the executor's
// options.
func newRealEnv(t testing.TB, configure func(*executor.Options)) *realEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the sandbox mounts and switches users")
	}
	ctx := t.Context()
	tool := buildTool(t)
	root := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// EXECUTOR_TEST_LOG=1 shows the daemon-style JSON logs ("action done"
	// timings) on stderr, e.g. with the benchmark.
	if os.Getenv("EXECUTOR_TEST_LOG") != "" {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	store, err := cas.Open(ctx, cas.Options{Root: root, Logger: logger})
	if err != nil {
		t.Fatalf("cas.Open: %v", err)
	}
	cache, err := actioncache.Open(ctx, root, store, logger)
	if err != nil {
		t.Fatalf("actioncache.Open: %v", err)
	}
	roots, err := execroot.New(ctx, execroot.Options{Store: store, WorkDir: filepath.Join(root, "execroot"), Logger: logger})
	if err != nil {
		t.Fatalf("execroot.New: %v", err)
	}
	runner, err := sandbox.NewRunner(logger, sandbox.Options{})
	if err != nil {
		t.Fatalf("sandbox.NewRunner: %v", err)
	}
	opts := executor.Options{
		Store:       store,
		Cache:       cache,
		Roots:       executor.ExecRoots(roots),
		Runner:      runner,
		Jobs:        2,
		CancelGrace: 10 * time.Millisecond,
		Logger:      logger,
	}
	if configure != nil {
		configure(&opts)
	}
	ex, err := executor.New(opts)
	if err != nil {
		t.Fatalf("executor.New: %v", err)
	}
	t.Cleanup(func() {
		ex.Close()
		runner.Close()
	})
	e := &realEnv{root: root, store: store, cache: cache, exec: ex, tool: digest.OfBytes(tool)}
	if err := store.Put(ctx, e.tool, tool); err != nil {
		t.Fatalf("storing the tool: %v", err)
	}
	return e
}

// newTag returns a tool argument unique to this test run, by which waitRunning
// and wantGone find the action's process.
func newTag(t testing.TB) string {
	return fmt.Sprintf("tag-%d-%d-%s", os.Getpid(), time.Now().UnixNano(), strings.ReplaceAll(t.Name(), "/", "-"))
}

// awaitCommand runs the tool, tagged, until letGo and then prints "let go".
func awaitCommand(tag string) *repb.Command {
	return &repb.Command{Arguments: []string{"./tool", "tag", tag, "await", "go-on", "stdout", "let go"}}
}

// tagged returns the pids of the processes that have tag as an argument.
func tagged(t testing.TB, tag string) []int {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range cmdlines {
		// Processes that ended since the Glob are not found any more.
		b, err := os.ReadFile(p)
		if err != nil || !slices.Contains(strings.Split(string(b), "\x00"), tag) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// waitRunning waits until the action's command itself runs in the sandbox
// (the tool's process, not just the job slot or the sandbox set-up) and
// returns its pid.
func waitRunning(t testing.TB, tag string) int {
	t.Helper()
	var pids []int
	eventually(t, "the tagged tool runs", func() bool {
		pids = tagged(t, tag)
		return len(pids) > 0
	})
	if len(pids) != 1 {
		t.Fatalf("%d processes have tag %s, want 1", len(pids), tag)
	}
	return pids[0]
}

// wantGone fails unless every process of the tagged action is gone: the
// sandbox returns only after that.
func wantGone(t testing.TB, tag string) {
	t.Helper()
	if pids := tagged(t, tag); len(pids) > 0 {
		t.Errorf("processes of the action are left: %v", pids)
	}
}

// letGo lets the awaitCommand with process pid go on, by creating the file
// it waits for in its working directory.
func letGo(t testing.TB, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/cwd/go-on", pid), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *realEnv) put(t testing.TB, b []byte) digest.Digest {
	t.Helper()
	d := digest.OfBytes(b)
	if err := e.store.Put(t.Context(), d, b); err != nil {
		t.Fatalf("Put: %v", err)
	}
	return d
}

func (e *realEnv) putMessage(t testing.TB, m proto.Message) digest.Digest {
	t.Helper()
	b, _, err := digest.OfMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	return e.put(t, b)
}

// inputRoot is {tool, sub/}, with extra files at the top.
func (e *realEnv) inputRoot(t testing.TB, extra ...*repb.FileNode) *repb.Digest {
	t.Helper()
	sub := e.putMessage(t, &repb.Directory{})
	files := append([]*repb.FileNode{{Name: "tool", Digest: e.tool.Proto(), IsExecutable: true}}, extra...)
	slices.SortFunc(files, func(a, b *repb.FileNode) int { return strings.Compare(a.Name, b.Name) })
	return e.putMessage(t, &repb.Directory{
		Files:       files,
		Directories: []*repb.DirectoryNode{{Name: "sub", Digest: sub.Proto()}},
	}).Proto()
}

func (e *realEnv) blob(t *testing.T, d *repb.Digest) string {
	t.Helper()
	if d == nil {
		return ""
	}
	dg, err := digest.FromProto(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.store.ReadAll(t.Context(), dg, 1<<20)
	if err != nil {
		t.Fatalf("reading %s: %v", dg, err)
	}
	return string(b)
}

func (e *realEnv) execute(t *testing.T, ctx context.Context, cmd *repb.Command, inputRoot *repb.Digest, timeout time.Duration) (*executor.Operation, digest.Digest) {
	t.Helper()
	action := &repb.Action{CommandDigest: e.putMessage(t, cmd).Proto(), InputRootDigest: inputRoot}
	if timeout > 0 {
		action.Timeout = durationpb.New(timeout)
	}
	ad := e.putMessage(t, action)
	op, err := e.exec.Execute(ctx, &repb.ExecuteRequest{ActionDigest: ad.Proto()})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return op, ad
}

func TestIntegrationRunsRealCommands(t *testing.T) {
	e := newRealEnv(t, nil)
	for _, tc := range []struct {
		name       string
		cmd        *repb.Command
		wantCode   codes.Code
		wantExit   int32
		wantStdout string
		wantStderr string
		// wantInStderr are substrings of the stderr.
		wantInStderr []string
		wantFiles    map[string]string
		wantCached   bool
	}{
		{
			name: "outputs and stdout",
			cmd: &repb.Command{
				Arguments:   []string{"./tool", "write", "out/a.txt", "hello", "stdout", "to stdout"},
				OutputPaths: []string{"out/a.txt"},
			},
			wantStdout: "to stdout",
			wantFiles:  map[string]string{"out/a.txt": "hello"},
			wantCached: true,
		},
		{
			name: "environment and working directory",
			cmd: &repb.Command{
				Arguments:            []string{"../tool", "getenv", "GREETING", "stdout", " ", "pwd", "write", "here.txt", "x"},
				EnvironmentVariables: []*repb.Command_EnvironmentVariable{{Name: "GREETING", Value: "hi"}},
				WorkingDirectory:     "sub",
				OutputPaths:          []string{"here.txt"},
			},
			wantStdout: "hi /execroot/sub",
			wantFiles:  map[string]string{"here.txt": "x"},
			wantCached: true,
		},
		{
			name:       "failure is returned, not cached",
			cmd:        &repb.Command{Arguments: []string{"./tool", "stderr", "broken", "exit", "3"}},
			wantExit:   3,
			wantStderr: "broken",
		},
		{
			name:     "program that does not exist is 127",
			cmd:      &repb.Command{Arguments: []string{"./no-such-tool"}},
			wantExit: 127,
		},
		{
			name:     "a host program is not in the sandbox, and stderr says why",
			cmd:      &repb.Command{Arguments: []string{"/usr/bin/no-such-compiler", "-c", "x.c"}},
			wantExit: 127,
			wantInStderr: []string{
				"actiond: /usr/bin/no-such-compiler is not in the sandbox, which holds only the action's inputs and the runtimes its exec properties ask for (none asked for).",
				"This server has no runtime image",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, ad := e.execute(t, t.Context(), tc.cmd, e.inputRoot(t), 0)
			resp := waitDone(t, op)
			wantCode(t, resp, tc.wantCode)
			res := resp.GetResult()
			if res.GetExitCode() != tc.wantExit {
				t.Errorf("exit code = %d, want %d (stderr %q)", res.GetExitCode(), tc.wantExit, e.blob(t, res.GetStderrDigest()))
			}
			if got := e.blob(t, res.GetStdoutDigest()); got != tc.wantStdout {
				t.Errorf("stdout = %q, want %q", got, tc.wantStdout)
			}
			if tc.wantStderr != "" {
				if got := e.blob(t, res.GetStderrDigest()); got != tc.wantStderr {
					t.Errorf("stderr = %q, want %q", got, tc.wantStderr)
				}
			}
			for _, w := range tc.wantInStderr {
				if got := e.blob(t, res.GetStderrDigest()); !strings.Contains(got, w) {
					t.Errorf("stderr = %q, want it to contain %q", got, w)
				}
			}
			files := map[string]string{}
			for _, f := range res.GetOutputFiles() {
				files[f.GetPath()] = e.blob(t, f.GetDigest())
			}
			for p, want := range tc.wantFiles {
				if files[p] != want {
					t.Errorf("output %s = %q, want %q (outputs: %v)", p, files[p], want, files)
				}
			}
			_, err := e.cache.Get(t.Context(), ad)
			if cached := err == nil; cached != tc.wantCached {
				t.Errorf("in the action cache = %v (%v), want %v", cached, err, tc.wantCached)
			}
		})
	}
}

// TestIntegrationResultOnDiskAfterClose: the executor's results are visible
// in the action cache when Execute returns and on disk once Close returned,
// for a daemon that restarts.
func TestIntegrationResultOnDiskAfterClose(t *testing.T) {
	e := newRealEnv(t, nil)
	cmd := &repb.Command{Arguments: []string{"./tool", "write", "out", "kept"}, OutputPaths: []string{"out"}}
	op, ad := e.execute(t, t.Context(), cmd, e.inputRoot(t), 0)
	resp := waitDone(t, op)
	wantCode(t, resp, codes.OK)
	if _, err := e.cache.Get(t.Context(), ad); err != nil {
		t.Fatalf("action cache right after Execute: %v", err)
	}
	if err := e.exec.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := actioncache.Open(t.Context(), e.root, e.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := reopened.Get(t.Context(), ad)
	if err != nil || !proto.Equal(got, resp.GetResult()) {
		t.Errorf("reopened action cache: %v, %v; want the executed result %v", got, err, resp.GetResult())
	}
}

// TestIntegrationTimeout: a timed-out action is killed (it would wait
// forever), fails with DEADLINE_EXCEEDED, keeps what it wrote and is not
// cached. The timeout leaves the tool ample time for its writes on a busy
// machine.
func TestIntegrationTimeout(t *testing.T) {
	e := newRealEnv(t, nil)
	tag := newTag(t)
	cmd := &repb.Command{
		Arguments:   []string{"./tool", "tag", tag, "write", "early.txt", "made it", "stdout", "before", "await", "never"},
		OutputPaths: []string{"early.txt"},
	}
	op, ad := e.execute(t, t.Context(), cmd, e.inputRoot(t), 3*time.Second)
	resp := waitDone(t, op)
	wantCode(t, resp, codes.DeadlineExceeded)
	if got := e.blob(t, resp.GetResult().GetStdoutDigest()); got != "before" {
		t.Errorf("stdout of the timed-out action = %q, want %q", got, "before")
	}
	wantGone(t, tag)
	if _, err := e.cache.Get(t.Context(), ad); status.Code(err) != codes.NotFound {
		t.Errorf("action cache after timeout: %v, want NOT_FOUND", err)
	}
}

// TestIntegrationCancel: when its only caller goes away, a running action
// (it would wait forever) is killed after the grace and not cached.
func TestIntegrationCancel(t *testing.T) {
	e := newRealEnv(t, nil)
	tag := newTag(t)
	ctx, cancel := context.WithCancel(t.Context())
	op, ad := e.execute(t, ctx, awaitCommand(tag), e.inputRoot(t), 0)
	waitRunning(t, tag)
	cancel()
	resp := waitDone(t, op)
	wantCode(t, resp, codes.Canceled)
	wantGone(t, tag)
	if _, err := e.cache.Get(t.Context(), ad); status.Code(err) != codes.NotFound {
		t.Errorf("action cache after cancel: %v, want NOT_FOUND", err)
	}
}

// TestIntegrationWaitExecutionReattach: the Execute stream of a running
// action drops; a WaitExecution caller reattaches by the operation name
// within the grace and gets the result of that same run.
func TestIntegrationWaitExecutionReattach(t *testing.T) {
	// A grace longer than the test, so that the reattach cannot race the
	// kill.
	e := newRealEnv(t, func(o *executor.Options) { o.CancelGrace = time.Hour })
	tag := newTag(t)
	ctx, cancel := context.WithCancel(t.Context())
	op, ad := e.execute(t, ctx, awaitCommand(tag), e.inputRoot(t), 0)
	pid := waitRunning(t, tag)
	again := reattach(t, e.exec, op, cancel) // the Execute stream broke
	// Only the process started for the first caller is let go on: a run
	// started anew would wait forever.
	letGo(t, pid)
	resp := waitDone(t, again)
	wantCode(t, resp, codes.OK)
	if got := e.blob(t, resp.GetResult().GetStdoutDigest()); got != "let go" {
		t.Errorf("stdout = %q, want %q", got, "let go")
	}
	if _, err := e.cache.Get(t.Context(), ad); err != nil {
		t.Errorf("action cache after the reattached run: %v, want the result", err)
	}
}

// TestIntegrationCancelOperationWithSeveralWaiters: callers of Execute and
// WaitExecution wait on one run of an action; CancelOperation kills it for
// all of them, and nothing is cached.
func TestIntegrationCancelOperationWithSeveralWaiters(t *testing.T) {
	// A grace longer than the test: only the Cancel call may kill.
	e := newRealEnv(t, func(o *executor.Options) { o.CancelGrace = time.Hour })
	tag := newTag(t)
	first, ad := e.execute(t, t.Context(), awaitCommand(tag), e.inputRoot(t), 0)
	waitRunning(t, tag)
	second, err := e.exec.Execute(t.Context(), &repb.ExecuteRequest{ActionDigest: ad.Proto()})
	if err != nil {
		t.Fatalf("second Execute: %v", err)
	}
	if second.Name() != first.Name() {
		t.Fatalf("operation names %q and %q differ, want the identical action joined", second.Name(), first.Name())
	}
	third, err := e.exec.Wait(t.Context(), first.Name())
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if waiters, _ := executor.Waiting(e.exec, first.Name()); waiters != 3 {
		t.Fatalf("%d callers wait, want 3", waiters)
	}

	if err := e.exec.Cancel(first.Name()); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	for i, op := range []*executor.Operation{first, second, third} {
		resp := waitDone(t, op)
		wantCode(t, resp, codes.Canceled)
		if msg := resp.GetStatus().GetMessage(); !strings.Contains(msg, "CancelOperation") {
			t.Errorf("waiter %d: message %q does not name the CancelOperation call", i, msg)
		}
	}
	wantGone(t, tag)
	if _, err := e.cache.Get(t.Context(), ad); status.Code(err) != codes.NotFound {
		t.Errorf("action cache after CancelOperation: %v, want NOT_FOUND", err)
	}
}

func TestIntegrationMissingInput(t *testing.T) {
	e := newRealEnv(t, nil)
	missing := digest.OfBytes([]byte("never uploaded"))
	root := e.inputRoot(t, &repb.FileNode{Name: "data", Digest: missing.Proto()})
	op, _ := e.execute(t, t.Context(), &repb.Command{Arguments: []string{"./tool"}}, root, 0)
	resp := waitDone(t, op)
	wantCode(t, resp, codes.FailedPrecondition)
	var subjects []string
	for _, d := range status.FromProto(resp.GetStatus()).Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.GetViolations() {
				subjects = append(subjects, v.GetType()+" "+v.GetSubject())
			}
		}
	}
	if want := "MISSING blobs/" + missing.String(); !strings.Contains(strings.Join(subjects, ","), want) {
		t.Errorf("violations = %q, want one %q", subjects, want)
	}
}

// BenchmarkIntegrationTrivialAction measures the executor's per-action cost
// over the real stack: a cached input root, one output, a cacheable result
// (written to the action cache each time), skip_cache_lookup,
// actions back to back.
func BenchmarkIntegrationTrivialAction(b *testing.B) {
	benchmarkTrivialAction(b, 0)
}

// BenchmarkIntegrationTrivialActionSpaced leaves 20 ms (not timed) between
// actions, so that each finds the background work of the one before (new
// pre-started init, namespace teardown, directory removal) done: the latency
// of an action arriving alone. EXECUTOR_TEST_LOG=1 shows the stage times.
func BenchmarkIntegrationTrivialActionSpaced(b *testing.B) {
	benchmarkTrivialAction(b, 20*time.Millisecond)
}

func benchmarkTrivialAction(b *testing.B, gap time.Duration) {
	e := newRealEnv(b, nil)
	root := e.inputRoot(b)
	cmd := &repb.Command{Arguments: []string{"./tool", "write", "out", "x"}, OutputPaths: []string{"out"}}
	ad := e.putMessage(b, &repb.Action{CommandDigest: e.putMessage(b, cmd).Proto(), InputRootDigest: root})
	for b.Loop() {
		if gap > 0 {
			b.StopTimer()
			time.Sleep(gap)
			b.StartTimer()
		}
		op, err := e.exec.Execute(b.Context(), &repb.ExecuteRequest{ActionDigest: ad.Proto(), SkipCacheLookup: true})
		if err != nil {
			b.Fatal(err)
		}
		for {
			state, changed := op.State()
			if state.GetDone() {
				break
			}
			<-changed
		}
	}
}
