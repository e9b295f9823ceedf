package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
	"github.com/actiond/actiond/go/rpcstatus"
	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/sandbox"
)

// run takes ex through the pipeline and completes it. The response is
// published before the input root (with the scratch directory) is released,
// so clients do not wait for the cleanup (the job slot does).
func (e *Executor) run(ex *execution, action *repb.Action) {
	t := stageTimes{queued: ex.queued}
	var h held
	defer e.releaseHeld(ex, &h) // after finish, and after a panic too
	out := e.attempt(ex, action, &t, &h)
	e.finish(ex, action, t, out)
}

// attempt runs the pipeline's steps, from waiting for a job slot to storing
// the outputs, and returns what the response is made of. The first error
// wins: it becomes the response status, and later ones (say, a failed output
// collection after a timeout) are dropped. What it acquires goes into h, for
// run to release once the response is out.
func (e *Executor) attempt(ex *execution, action *repb.Action, t *stageTimes, h *held) outcome {
	ctx := ex.ctx
	if err := e.slots.acquire(ctx, ex.priority, ex.seq); err != nil {
		return outcome{err: err}
	}
	h.slot = true
	t.workerStart = e.now()
	ex.setStage(repb.ExecutionStage_EXECUTING)

	t.inputStart = e.now()
	// Before the action can write its stdout and stderr: see storeStdio.
	flushFailures := e.opts.Store.FlushFailures()
	ap, err := e.prepareSpec(ctx, action)
	if err == nil {
		ex.argv0 = printable(ap.spec.Args[0])
	}
	e.opts.Observer.ActionStarted(ex.seq, ex.argv0)
	if err != nil {
		return outcome{err: err}
	}
	cmd, spec := ap.cmd, ap.spec
	inputRoot, err := digest.FromProto(action.GetInputRootDigest())
	if err != nil {
		return outcome{err: rpcstatus.Wrapf(err, "input root digest")}
	}
	root, err := e.opts.Roots.Prepare(ctx, inputRoot, cmd, ap.inputs)
	if err != nil {
		return outcome{err: rpcstatus.Wrapf(err, "preparing input root %s", inputRoot)}
	}
	h.root = root
	// The runtimes' mounts come first and the input root's on top of
	// them, so that nothing in a runtime, not even a rootfs with its own
	// /execroot, can cover the inputs.
	spec.Mounts = append(spec.Mounts, root.Mounts(ExecRoot)...)
	spec.Stdout, spec.Stderr = root.StdioFiles()
	t.inputCompleted = e.now()

	t.executionStart = e.now()
	result, err := e.opts.Runner.Run(ctx, spec)
	t.executionComplete = e.now()
	if err != nil {
		return outcome{err: sandboxError(err)}
	}
	out := outcome{timings: result.Timings}
	out.res, out.err = resultOf(result, spec)
	out.note = limitNote(result, spec)
	if out.err == nil {
		out.fail(diskFullError(spec.Stdout, out.res.GetExitCode()))
	}
	if result.ExitCode == 127 {
		e.noteMissingProgram(ctx, result, spec, ap.props)
	}

	// Outputs are collected after a timeout too: REAPI lets the result of a
	// failed execution carry what was produced, which helps debugging.
	t.outputStart = e.now()
	if err := root.CollectOutputs(ctx, cmd, out.res); err != nil {
		out.fail(rpcstatus.Wrapf(err, "collecting outputs"))
	}
	if d, ok, err := e.storeStdio(ctx, spec.Stdout, flushFailures); err != nil {
		out.fail(rpcstatus.Wrapf(err, "storing stdout"))
	} else if ok {
		out.res.StdoutDigest = d.Proto()
	}
	if d, ok, err := e.storeStdio(ctx, spec.Stderr, flushFailures); err != nil {
		out.fail(rpcstatus.Wrapf(err, "storing stderr"))
	} else if ok {
		out.res.StderrDigest = d.Proto()
	}
	t.outputCompleted = e.now()
	return out
}

// finish is the one exit of every run: it stages a cacheable result in the
// action cache (so that a request arriving after the response finds it),
// logs the "action done" line and publishes the response to the waiters.
func (e *Executor) finish(ex *execution, action *repb.Action, t stageTimes, out outcome) {
	ctx := ex.ctx
	err := reportedError(ctx, out.err)
	if !t.workerStart.IsZero() {
		t.workerCompleted = e.now()
	}
	if out.res != nil {
		out.res.ExecutionMetadata = t.metadata(out.timings.Run)
	}
	resp := errorResponse(err, out.res)
	if resp.Message == "" {
		resp.Message = out.note
	}
	if cacheable(action, resp) {
		e.cacheResult(ctx, ex.actionDigest, resp.GetResult())
	}
	t.published = e.now()
	e.logDone(ctx, ex.actionDigest, out.res, err, false, t, out.timings, out.note)
	e.report(ActionReport{
		ID:           ex.seq,
		ActionDigest: ex.actionDigest,
		Client:       ex.client,
		Argv0:        ex.argv0,
		Started:      !t.workerStart.IsZero(),
		Stages: StageDurations{
			Queue:  span(t.queued, t.workerStart),
			Input:  span(t.inputStart, t.inputCompleted),
			Setup:  out.timings.Setup,
			Spawn:  out.timings.Spawn,
			Run:    out.timings.Run,
			Output: span(t.outputStart, t.outputCompleted),
		},
		Queued: ex.queued,
	}, out.res, err, false)
	e.complete(ex, resp)
}

// report completes r from the response's result and error and tells the
// Observer.
func (e *Executor) report(r ActionReport, res *repb.ActionResult, err error, cached bool) {
	r.ExitCode = -1
	if res != nil {
		r.ExitCode = res.GetExitCode()
		if d, derr := digest.FromProto(res.GetStderrDigest()); derr == nil && res.GetStderrDigest() != nil {
			r.Stderr, r.HasStderr = d, true
		}
	}
	r.Outcome = outcomeOf(cached, res != nil, r.ExitCode, err)
	if err != nil {
		r.Error = rpcstatus.Message(err)
	}
	r.Finished = e.now()
	e.opts.Observer.ActionDone(r)
}

// span is to-from, or zero when either was not reached.
func span(from, to time.Time) time.Duration {
	if from.IsZero() || to.IsZero() {
		return 0
	}
	return to.Sub(from)
}

// releaseHeld releases what a run acquired: the input root first, then the
// job slot, so that the next action starts only once the cleanup is done.
func (e *Executor) releaseHeld(ex *execution, h *held) {
	if h.root != nil {
		if err := h.root.Close(); err != nil {
			e.log.WarnContext(ex.ctx, "releasing input root failed", "action_digest", ex.actionDigest.String(), "error", err.Error())
		}
	}
	if h.slot {
		e.slots.release()
	}
}

// reportedError is err as the client sees it: an error caused by our own
// cancellation of ctx (no waiters, shutdown, CancelOperation) is reported
// as that cause, whatever shape it took on the way up.
func reportedError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && err != nil && ctx.Err() != nil {
		return cause
	}
	return err
}

// sandboxError is the status of a run the sandbox could not carry out. An
// error without a gRPC code (or with UNKNOWN) is the server's fault:
// INTERNAL.
func sandboxError(err error) error {
	if rpcstatus.Code(err) == codes.Unknown {
		err = rpcstatus.WrapWithCode(err, codes.Internal, "sandbox")
	}
	return rpcstatus.Wrapf(err, "running the action")
}

// resultOf maps what the sandbox reported for spec to the ActionResult's exit
// code and the run's error: a timeout is DEADLINE_EXCEEDED and too much
// stdout or stderr RESOURCE_EXHAUSTED (the timeout wins when both
// happened). A command killed by signal N exits with 128+N; the sandbox
// reports it so already, and this keeps it so for any Runner.
func resultOf(r sandbox.Result, spec sandbox.Spec) (*repb.ActionResult, error) {
	res := &repb.ActionResult{ExitCode: int32(r.ExitCode)}
	if r.Signal != 0 {
		res.ExitCode = signalExitCode(r.Signal)
	}
	switch {
	case r.TimedOut:
		return res, rpcstatus.Newf(codes.DeadlineExceeded, "action timed out after %s", spec.Timeout)
	case r.OutputTooLarge:
		return res, rpcstatus.Newf(codes.ResourceExhausted, "action wrote more than %d bytes to stdout or stderr", spec.MaxOutputBytes)
	}
	return res, nil
}

// limitNote says which resource limit the action ran into, for
// ExecuteResponse.message: an action killed by the OOM killer or whose fork
// failed otherwise shows only an exit code or a tool's own error.
func limitNote(r sandbox.Result, spec sandbox.Spec) string {
	var notes []string
	if r.MemoryLimitHit {
		notes = append(notes, fmt.Sprintf("the action reached its memory limit of %d bytes and the kernel killed a process of it (raise the memory exec property)", spec.Limits.MemoryBytes))
	}
	if r.PidsLimitHit {
		notes = append(notes, fmt.Sprintf("the action reached its limit of %d processes and threads and a fork failed (raise the pids exec property)", spec.Limits.Pids))
	}
	return strings.Join(notes, "; ")
}

// cacheable says whether resp may go into the action cache. Non-zero exits
// are not cached (Bazel's own policy: a flaky failure must not stick), nor
// is anything with a non-OK status (REAPI: MUST NOT), nor the results of
// do_not_cache actions.
func cacheable(action *repb.Action, resp *repb.ExecuteResponse) bool {
	return resp.GetStatus().GetCode() == int32(codes.OK) && resp.GetResult() != nil &&
		resp.GetResult().GetExitCode() == 0 && !action.GetDoNotCache()
}

// noteMissingProgram adds to the stderr of an action that ended with 127
// a line saying what it missed, what the sandbox holds and which exec
// property would bring it (see missingProgramNote), when the sandbox's
// message or a shell's "not found" tells what it missed.
func (e *Executor) noteMissingProgram(ctx context.Context, result sandbox.Result, spec sandbox.Spec, props properties) {
	m, ok := findMissingProgram(result.ExecError, spec.Args, spec.Env, readTail(spec.Stderr, stderrTailBytes))
	if !ok {
		return
	}
	if err := appendLine(spec.Stderr, missingProgramNote(m, props, e.opts.Runtimes)); err != nil {
		e.log.WarnContext(ctx, "cannot add the missing-program note to stderr", "error", err.Error())
	}
}

// storeStdio moves a non-empty stdout or stderr file into the CAS. Empty or
// absent files get no digest: the client then has nothing to fetch.
// flushFailures is the store's FlushFailures from before the action ran.
func (e *Executor) storeStdio(ctx context.Context, file string, flushFailures int64) (digest.Digest, bool, error) {
	fi, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) || err == nil && fi.Size() == 0 {
		return digest.Digest{}, false, nil
	}
	if err != nil {
		return digest.Digest{}, false, err
	}
	d, err := e.opts.Store.MoveFile(ctx, file, flushFailures)
	return d, err == nil, err
}

// persistLater writes a staged action cache entry in the background. The
// entry is visible already; writing its file (a new inode, two fsyncs and a
// rename) need not hold up the client, the job slot or the release of the
// input root. At most
// maxPersists run at once, so that a stalled disk does not pile up open
// files; Close waits for them all.
func (e *Executor) persistLater(ctx context.Context, d digest.Digest, persist func() error) {
	e.wg.Add(1) // the calling run goroutine is counted: Close cannot be past Wait
	go func() {
		defer e.wg.Done()
		defer func() {
			if p := recover(); p != nil {
				e.log.Error("panic while writing an action cache entry", "action_digest", d.String(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
		}()
		e.persists <- struct{}{}
		defer func() { <-e.persists }()
		if err := persist(); err != nil {
			e.log.WarnContext(ctx, "writing the action result to the action cache failed", "action_digest", d.String(), "error", err.Error())
		}
	}()
}

// maxPersists bounds the action cache writes running at once.
const maxPersists = 4

// cacheResult stages res as the result of d in the action cache, visible to
// lookups at once, and writes it to disk in the background.
func (e *Executor) cacheResult(ctx context.Context, d digest.Digest, res *repb.ActionResult) {
	persist, err := e.opts.Cache.Stage(ctx, d, res)
	if err != nil {
		// The result itself is fine, so the client still gets it.
		e.log.WarnContext(ctx, "writing the action result to the action cache failed", "action_digest", d.String(), "error", err.Error())
		return
	}
	e.persistLater(ctx, d, persist)
}

// actionPlan is what prepareSpec derives from an Action: its Command, the
// sandbox Spec (without the input root's mounts and stdio files) and how
// the input root is to be prepared.
type actionPlan struct {
	cmd    *repb.Command
	spec   sandbox.Spec
	inputs execroot.PrepareOptions
	props  properties
}

// prepareSpec loads the Command and validates everything about the request
// that can be checked before touching the input root.
func (e *Executor) prepareSpec(ctx context.Context, action *repb.Action) (actionPlan, error) {
	cmdDigest, err := digest.FromProto(action.GetCommandDigest())
	if err != nil {
		return actionPlan{}, rpcstatus.Wrapf(err, "command digest")
	}
	cmd := &repb.Command{}
	if err := e.loadMessage(ctx, cmdDigest, "command", cmd); err != nil {
		return actionPlan{}, err
	}
	props, err := parseProperties(platformOf(action, cmd), e.allowed)
	if err != nil {
		return actionPlan{}, err
	}
	timeout, err := e.timeout(action)
	if err != nil {
		return actionPlan{}, err
	}
	args, err := commandArgs(cmd)
	if err != nil {
		return actionPlan{}, err
	}
	env, err := commandEnv(cmd)
	if err != nil {
		return actionPlan{}, err
	}
	dir, err := workingDirectory(cmd.GetWorkingDirectory())
	if err != nil {
		return actionPlan{}, err
	}
	mounts, err := e.runtimeMounts(props)
	if err != nil {
		return actionPlan{}, err
	}
	spec := sandbox.Spec{
		Args:           args,
		Env:            env,
		Dir:            dir,
		Mounts:         mounts,
		MaxOutputBytes: MaxStdioBytes,
		Timeout:        timeout,
		Limits:         props.limits,
		UID:            sandboxUID,
		GID:            sandboxGID,
	}
	return actionPlan{cmd: cmd, spec: spec, inputs: execroot.PrepareOptions{MutableInputs: props.mutatesInputs}, props: props}, nil
}

func (e *Executor) timeout(action *repb.Action) (time.Duration, error) {
	pb := action.GetTimeout()
	if pb == nil {
		return e.opts.DefaultTimeout, nil
	}
	if err := pb.CheckValid(); err != nil {
		return 0, rpcstatus.Newf(codes.InvalidArgument, "action timeout: %v", err)
	}
	d := pb.AsDuration()
	switch {
	case d < 0:
		return 0, rpcstatus.Newf(codes.InvalidArgument, "action timeout %s is negative", d)
	case d == 0:
		return e.opts.DefaultTimeout, nil
	}
	return d, nil
}

func commandArgs(cmd *repb.Command) ([]string, error) {
	args := cmd.GetArguments()
	if len(args) == 0 || args[0] == "" {
		return nil, rpcstatus.Newf(codes.InvalidArgument, "command has no program to run (arguments empty)")
	}
	for i, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, rpcstatus.Newf(codes.InvalidArgument, "command argument %d contains a NUL byte", i)
		}
	}
	return slices.Clone(args), nil
}

// commandEnv returns the environment exactly as given: no variables are added.
func commandEnv(cmd *repb.Command) ([]string, error) {
	env := make([]string, 0, len(cmd.GetEnvironmentVariables()))
	seen := map[string]bool{}
	for _, v := range cmd.GetEnvironmentVariables() {
		name, value := v.GetName(), v.GetValue()
		switch {
		case name == "":
			return nil, rpcstatus.Newf(codes.InvalidArgument, "environment variable with an empty name")
		case strings.IndexByte(name, '=') >= 0:
			return nil, rpcstatus.Newf(codes.InvalidArgument, "environment variable name %q contains '='", name)
		case strings.IndexByte(name, 0) >= 0 || strings.IndexByte(value, 0) >= 0:
			return nil, rpcstatus.Newf(codes.InvalidArgument, "environment variable %q contains a NUL byte", name)
		case seen[name]:
			return nil, rpcstatus.Newf(codes.InvalidArgument, "environment variable %q is given twice", name)
		}
		seen[name] = true
		env = append(env, name+"="+value)
	}
	return env, nil
}

// workingDirectory maps Command.working_directory into the sandbox.
func workingDirectory(wd string) (string, error) {
	if wd == "" || wd == "." {
		return ExecRoot, nil
	}
	if path.IsAbs(wd) || path.Clean(wd) != wd || wd == ".." || strings.HasPrefix(wd, "../") || strings.IndexByte(wd, 0) >= 0 {
		return "", rpcstatus.Newf(codes.InvalidArgument, "working directory %q must be a clean relative path inside the input root", wd)
	}
	return ExecRoot + "/" + wd, nil
}

// runtimeMounts returns the read-only binds of the runtimes props ask for.
// With a catalog, they are asked for even when props name none, since a
// catalog may always provide common files (such as /etc).
//
// A rootfs runtime (runtime=NAME) becomes the action's / by binding each of
// its top-level directories read-only onto the sandbox's own tmpfs root,
// beside the /dev, /proc, /tmp and /etc the sandbox and the image provide
// for every action, and under the execroot. Binds rather than an overlay
// with the rootfs as its lower layer: a bind adds nothing to path lookups,
// which a compiler makes by the thousand (an overlay looks every name up
// in its upper layer first); the sandbox's pre-started inits build their
// tmpfs root before the action is known, and binds fit on it as any other
// mount does; and mount points for the execroot and the rest never have to
// be created in the rootfs, since they are in the tmpfs.
func (e *Executor) runtimeMounts(props properties) ([]sandbox.Mount, error) {
	if e.opts.Runtimes == nil {
		if props.libc != "" || props.runtime != "" || props.requiresBash {
			return nil, rpcstatus.Newf(codes.InvalidArgument, "exec properties %s=%q / %s=%q / %s ask for a runtime, but this server was started without a runtime image", propLibc, props.libc, propRuntime, props.runtime, propRequiresBash)
		}
		return nil, nil
	}
	if props.libc != "" && !slices.Contains(e.opts.Runtimes.Names(), props.libc) {
		return nil, unknownRuntime(propLibc, props.libc, e.opts.Runtimes.Names())
	}
	if props.runtime != "" && !slices.Contains(e.opts.Runtimes.RootfsNames(), props.runtime) {
		return nil, unknownRuntime(propRuntime, props.runtime, e.opts.Runtimes.RootfsNames())
	}
	rms, err := e.opts.Runtimes.Mounts(runtimes.Request{Libc: props.libc, Rootfs: props.runtime, Bash: props.requiresBash})
	if err != nil {
		if errors.Is(err, runtimes.ErrUnknownRuntime) || errors.Is(err, runtimes.ErrConflictingRuntimes) {
			return nil, rpcstatus.WrapWithCode(err, codes.InvalidArgument, "exec properties ask for runtimes this server cannot provide")
		}
		return nil, rpcstatus.WrapWithCode(err, codes.Internal, "runtime mounts")
	}
	mounts := make([]sandbox.Mount, 0, len(rms))
	for _, m := range rms {
		mounts = append(mounts, sandbox.Mount{Kind: sandbox.Bind, Source: m.Source, Target: m.Target, ReadOnly: true})
	}
	return mounts, nil
}

// unknownRuntime is the error for a libc or runtime property value that
// names no runtime of the image; names are the ones that exist.
func unknownRuntime(prop, value string, names []string) error {
	names = slices.Sorted(slices.Values(names))
	if len(names) == 0 {
		kind := runtimes.KindLibc
		if prop == propRuntime {
			kind = runtimes.KindRootfs
		}
		return rpcstatus.Newf(codes.InvalidArgument, "exec property %s=%q names no runtime; the runtime image has no %s runtimes", prop, value, kind)
	}
	if prop == propLibc {
		return rpcstatus.Newf(codes.InvalidArgument, "exec property %s=%q names no runtime; runtimes: %s (or none)", prop, value, strings.Join(names, ", "))
	}
	return rpcstatus.Newf(codes.InvalidArgument, "exec property %s=%q names no runtime; runtimes: %s", prop, value, strings.Join(names, ", "))
}

// loadAction reads the Action; missing is FAILED_PRECONDITION with details.
func (e *Executor) loadAction(ctx context.Context, d digest.Digest) (*repb.Action, error) {
	if d.Size > maxActionBytes {
		// Checked before reading: every Execute call reads its Action into
		// memory, before any job slot bounds how many do so at once.
		return nil, rpcstatus.Newf(codes.InvalidArgument, "action %s is %d bytes, more than the %d bytes this server accepts for an Action", d, d.Size, maxActionBytes)
	}
	action := &repb.Action{}
	if err := e.loadMessage(ctx, d, "action", action); err != nil {
		return nil, err
	}
	return action, nil
}

func (e *Executor) loadMessage(ctx context.Context, d digest.Digest, what string, m proto.Message) error {
	b, err := e.opts.Store.ReadAll(ctx, d, maxMessageBytes)
	if err != nil {
		if rpcstatus.Code(err) == codes.NotFound {
			return rpcstatus.MissingBlobs([]digest.Digest{d}, "%s %s is not in the CAS", what, d)
		}
		return rpcstatus.Wrapf(err, "reading %s %s", what, d)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return rpcstatus.Newf(codes.InvalidArgument, "%s %s is not a valid %T: %v", what, d, m, err)
	}
	return nil
}

// errorResponse builds the ExecuteResponse for err (nil: OK) and res.
func errorResponse(err error, res *repb.ActionResult) *repb.ExecuteResponse {
	resp := &repb.ExecuteResponse{Result: res}
	if err != nil {
		st, ok := status.FromError(err)
		if !ok || st.Code() == codes.Unknown {
			st = status.New(rpcstatus.Code(err), rpcstatus.Message(err))
		}
		resp.Status = st.Proto()
		resp.Message = st.Message()
	}
	return resp
}

// logDone writes the one line per action the benchmarks parse.
func (e *Executor) logDone(ctx context.Context, d digest.Digest, res *repb.ActionResult, err error, cached bool, t stageTimes, timings sandbox.Timings, note string) {
	ms := func(from, to time.Time) float64 {
		if from.IsZero() || to.IsZero() {
			return 0
		}
		return float64(to.Sub(from)) / float64(time.Millisecond)
	}
	// The response is out when published; a cache hit has no later step.
	end := t.published
	if end.IsZero() {
		end = t.workerCompleted
	}
	exitCode := int32(-1)
	if res != nil {
		exitCode = res.GetExitCode()
	}
	attrs := []any{
		"action_digest", d.String(),
		"exit_code", exitCode,
		"cached", cached,
		"status", rpcstatus.Code(err).String(),
		"queue_ms", ms(t.queued, t.workerStart),
		"input_ms", ms(t.inputStart, t.inputCompleted),
		"setup_ms", float64(timings.Setup) / float64(time.Millisecond),
		"setup_config_ms", float64(timings.SetupConfig) / float64(time.Millisecond),
		"setup_mounts_ms", float64(timings.SetupMounts) / float64(time.Millisecond),
		"setup_fork_ms", float64(timings.SetupFork) / float64(time.Millisecond),
		"spawn_ms", float64(timings.Spawn) / float64(time.Millisecond),
		"run_ms", float64(timings.Run) / float64(time.Millisecond),
		"teardown_ms", float64(timings.Teardown) / float64(time.Millisecond),
		"prestarted", timings.Prestarted,
		"output_ms", ms(t.outputStart, t.outputCompleted),
		"total_ms", ms(t.queued, end),
	}
	if err != nil {
		attrs = append(attrs, "error", rpcstatus.Message(err))
	}
	if note != "" {
		attrs = append(attrs, "limit", note)
	}
	e.log.InfoContext(ctx, "action done", attrs...)
}

// signalExitCode is the shell convention for a command killed by sig.
func signalExitCode(sig syscall.Signal) int32 { return 128 + int32(sig) }
