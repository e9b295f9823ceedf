package executor_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/sandbox"
)

// recordingObserver keeps every event, in order.
type recordingObserver struct {
	mu     sync.Mutex
	events []string
	starts map[uint64]string
	queued map[uint64]executor.QueuedAction
	done   []executor.ActionReport
}

func newRecordingObserver() *recordingObserver {
	return &recordingObserver{starts: map[uint64]string{}, queued: map[uint64]executor.QueuedAction{}}
}

func (o *recordingObserver) ActionQueued(id uint64, a executor.QueuedAction) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, "queued")
	o.queued[id] = a
}

func (o *recordingObserver) ActionStarted(id uint64, argv0 string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, "started")
	o.starts[id] = argv0
}

func (o *recordingObserver) ActionDone(r executor.ActionReport) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, "done")
	o.done = append(o.done, r)
}

// TestObserverSeesEveryOutcome runs requests that end each way and checks
// what the Observer was told: the events in order, the id tying them
// together, the outcome, the exit code and the client's metadata.
func TestObserverSeesEveryOutcome(t *testing.T) {
	rm, err := proto.Marshal(&repb.RequestMetadata{ActionMnemonic: "CppCompile\x1b[31m", TargetId: "//pkg:lib", ToolDetails: &repb.ToolDetails{ToolName: "bazel", ToolVersion: "7.4.1"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		run         func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error)
		missing     bool // the Action blob is not in the CAS
		events      []string
		outcome     executor.ActionOutcome
		exitCode    int32
		wantStarted bool
	}{
		{
			name:   "success",
			run:    func(context.Context, sandbox.Spec) (sandbox.Result, error) { return sandbox.Result{}, nil },
			events: []string{"queued", "started", "done"}, outcome: executor.OutcomeSuccess, wantStarted: true,
		},
		{
			name:   "non-zero exit",
			run:    func(context.Context, sandbox.Spec) (sandbox.Result, error) { return sandbox.Result{ExitCode: 3}, nil },
			events: []string{"queued", "started", "done"}, outcome: executor.OutcomeNonZeroExit, exitCode: 3, wantStarted: true,
		},
		{
			name: "timeout",
			run: func(context.Context, sandbox.Spec) (sandbox.Result, error) {
				return sandbox.Result{TimedOut: true, Signal: 9}, nil
			},
			events: []string{"queued", "started", "done"}, outcome: executor.OutcomeTimeout, exitCode: 137, wantStarted: true,
		},
		{
			name: "sandbox failure",
			run: func(context.Context, sandbox.Spec) (sandbox.Result, error) {
				return sandbox.Result{}, errors.New("clone: no memory")
			},
			events: []string{"queued", "started", "done"}, outcome: executor.OutcomeSetupFailure, exitCode: -1, wantStarted: true,
		},
		{
			name:    "action not in the CAS",
			missing: true,
			events:  []string{"done"}, outcome: executor.OutcomeSetupFailure, exitCode: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs := newRecordingObserver()
			e := newEnv(t, func(o *executor.Options) { o.Observer = obs })
			e.runner.Func = tc.run
			ad := e.action(echoCommand(), nil)
			if tc.missing {
				ad = digest.OfBytes([]byte("no such action")).Proto()
			}
			ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("build.bazel.remote.execution.v2.requestmetadata-bin", string(rm)))
			waitDone(t, e.start(t, ctx, &repb.ExecuteRequest{ActionDigest: ad}))

			obs.mu.Lock()
			defer obs.mu.Unlock()
			if !slices.Equal(obs.events, tc.events) {
				t.Fatalf("events = %v, want %v", obs.events, tc.events)
			}
			r := obs.done[0]
			if r.Outcome != tc.outcome || r.ExitCode != tc.exitCode || r.Started != tc.wantStarted {
				t.Errorf("report: outcome %s, exit %d, started %v; want %s, %d, %v", r.Outcome, r.ExitCode, r.Started, tc.outcome, tc.exitCode, tc.wantStarted)
			}
			if r.Client.Mnemonic != "CppCompile?[31m" || r.Client.TargetID != "//pkg:lib" || r.Client.Tool != "bazel 7.4.1" {
				t.Errorf("client = %+v, want the request metadata with the escape character replaced", r.Client)
			}
			if tc.missing {
				if r.ID != 0 {
					t.Errorf("a request answered without running has id %d, want 0", r.ID)
				}
				return
			}
			if _, ok := obs.queued[r.ID]; !ok || r.ID == 0 {
				t.Errorf("done id %d was not queued (queued: %v)", r.ID, obs.queued)
			}
			if got := obs.starts[r.ID]; got != "/bin/echo" {
				t.Errorf("started argv0 = %q, want /bin/echo", got)
			}
			if r.Argv0 != "/bin/echo" || r.Finished.Before(r.Queued) {
				t.Errorf("report argv0 %q, queued %v, finished %v", r.Argv0, r.Queued, r.Finished)
			}
		})
	}
}

// TestObserverSeesCacheHitsAndCancelledQueue checks a cache hit (reported
// once, id 0, outcome cached) and an execution cancelled while it waited
// for a slot (queued, then done without started).
func TestObserverSeesCacheHitsAndCancelledQueue(t *testing.T) {
	obs := newRecordingObserver()
	e := newEnv(t, func(o *executor.Options) { o.Observer = obs; o.Jobs = 1 })
	release := make(chan struct{})
	e.runner.Func = func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
		if spec.Args[1] == "block" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return sandbox.Result{}, nil
	}
	cached := e.action(echoCommand(), nil)
	e.run(t, &repb.ExecuteRequest{ActionDigest: cached})
	e.run(t, &repb.ExecuteRequest{ActionDigest: cached})

	blocker := e.start(t, t.Context(), &repb.ExecuteRequest{ActionDigest: e.action(&repb.Command{Arguments: []string{"/bin/sleep", "block"}}, nil)})
	waitStarted(t, e.runner)
	ctx, cancel := context.WithCancel(t.Context())
	queued := e.start(t, ctx, &repb.ExecuteRequest{ActionDigest: e.action(&repb.Command{Arguments: []string{"/bin/echo", "queued"}}, nil)})
	cancel()
	waitDone(t, queued)
	close(release)
	waitDone(t, blocker)

	obs.mu.Lock()
	defer obs.mu.Unlock()
	var outcomes []executor.ActionOutcome
	for _, r := range obs.done {
		outcomes = append(outcomes, r.Outcome)
	}
	want := []executor.ActionOutcome{executor.OutcomeSuccess, executor.OutcomeCached, executor.OutcomeCancelled, executor.OutcomeSuccess}
	if !slices.Equal(outcomes, want) {
		t.Fatalf("outcomes = %v, want %v", outcomes, want)
	}
	if hit := obs.done[1]; hit.ID != 0 || hit.Started {
		t.Errorf("cache hit reported with id %d, started %v; want 0, false", hit.ID, hit.Started)
	}
	if c := obs.done[2]; c.Started || c.ID == 0 {
		t.Errorf("cancelled while queued: id %d, started %v; want a queued id, not started", c.ID, c.Started)
	}
	if got := len(obs.starts); got != 2 {
		t.Errorf("started events = %d, want 2 (the first run and the blocker)", got)
	}
}
