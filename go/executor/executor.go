// Package executor runs REAPI actions: it looks them up in the action cache,
// queues them on a bounded worker pool, fetches their inputs, runs them in the
// sandbox, collects their outputs, and writes the ActionResult. Identical
// in-flight actions run once; an action nobody waits for any more is killed.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
	"github.com/actiond/actiond/go/sandbox"
)

// Defaults for the zero values of Options.
const (
	// DefaultTimeout applies to actions without Action.timeout when
	// Options.DefaultTimeout is zero. REAPI says the server SHOULD impose one.
	// It equals the default of linux_actiond's --default-timeout flag, which
	// the daemon passes as Options.DefaultTimeout.
	DefaultTimeout = 15 * time.Minute
	// DefaultCancelGrace is how long an execution nobody waits for keeps
	// running: long enough for a client whose stream broke to come back with
	// WaitExecution (Bazel retries after 100 ms, backing off).
	DefaultCancelGrace = 2 * time.Second
	// DefaultRetention is how long a finished operation can be looked up.
	DefaultRetention = 10 * time.Minute
	// DefaultMaxRetained caps the finished operations kept for lookups, so
	// that memory does not grow with the action rate; past it the oldest
	// go first. Clients look operations up while they run, or just after
	// a broken stream, so the newest ones are those that matter.
	DefaultMaxRetained = 10000
	// MaxStdioBytes caps stdout and stderr each: an action that writes more
	// is killed and its response is RESOURCE_EXHAUSTED.
	MaxStdioBytes = 16 << 20
	// maxMessageBytes caps the Command blobs we read.
	maxMessageBytes = 64 << 20
	// maxActionBytes caps Action blobs: an Action holds two digests, a
	// timeout, a salt and platform properties, a few hundred bytes in
	// practice.
	maxActionBytes = 1 << 20
	// Sandbox identity: nobody/nogroup.
	sandboxUID, sandboxGID = 65534, 65534
	// ExecRoot is where the input root appears in the sandbox.
	ExecRoot = "/execroot"
	// WorkerName goes into ExecutedActionMetadata.worker.
	WorkerName = "actiond"
)

// Options configure an Executor. Store, Cache, Roots and Runner are required.
type Options struct {
	Store  Store
	Cache  ActionCache
	Roots  RootBuilder
	Runner Runner
	// Runtimes may be nil: then no runtime image was given, and actions
	// asking for libc or requires-bash are INVALID_ARGUMENT.
	Runtimes Runtimes
	// Jobs is how many actions run at once; zero means runtime.NumCPU().
	// Further actions wait in an unbounded queue (stage QUEUED), lowest
	// ExecutionPolicy.priority first, then in arrival order.
	Jobs int
	// DefaultTimeout applies to actions without Action.timeout; zero means
	// the package's DefaultTimeout.
	DefaultTimeout time.Duration
	// AllowedProperties are exec property names accepted and ignored (for
	// example OSFamily, container-image), from --allow-property.
	AllowedProperties []string
	// CancelGrace: see DefaultCancelGrace. Zero means the default.
	CancelGrace time.Duration
	// Retention: see DefaultRetention. Zero means the default.
	Retention time.Duration
	// MaxRetained: see DefaultMaxRetained. Zero means the default.
	MaxRetained int
	Logger      *slog.Logger
	// Observer, when set, is told how each request goes.
	Observer Observer
	// Now is the clock for ExecutedActionMetadata and the timing log; nil
	// means time.Now.
	Now func() time.Time
}

// Executor runs actions. It is safe for concurrent use.
type Executor struct {
	opts    Options
	allowed map[string]bool
	log     *slog.Logger
	now     func() time.Time
	slots   *jobSlots
	seq     atomic.Uint64 // numbers executions for jobSlots

	ctx    context.Context // parent of every execution; cancelled by Close
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	// persists holds a token per action cache write running (persistLater).
	persists chan struct{}

	mu     sync.Mutex
	closed bool
	ops    map[string]*execution // by operation name
	// retained are the finished operations in ops, oldest first.
	retained []*execution
	inflight map[digest.Digest]*execution // running cacheable actions, for dedup
}

var (
	errNoWaiters = rpcstatus.Newf(codes.Canceled, "execution cancelled: no client waits for it any more")
	errShutdown  = rpcstatus.Newf(codes.Unavailable, "executor is shutting down")
	errCancelled = rpcstatus.Newf(codes.Canceled, "execution cancelled by a CancelOperation call")
)

// New returns an Executor with its worker pool ready.
func New(opts Options) (*Executor, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("executor: Options.Store is required")
	case opts.Cache == nil:
		return nil, errors.New("executor: Options.Cache is required")
	case opts.Roots == nil:
		return nil, errors.New("executor: Options.Roots is required")
	case opts.Runner == nil:
		return nil, errors.New("executor: Options.Runner is required")
	case opts.Jobs < 0:
		return nil, errors.New("executor: Options.Jobs must not be negative")
	case opts.DefaultTimeout < 0:
		return nil, errors.New("executor: Options.DefaultTimeout must not be negative")
	}
	if opts.Jobs == 0 {
		opts.Jobs = runtime.NumCPU()
	}
	if opts.DefaultTimeout == 0 {
		opts.DefaultTimeout = DefaultTimeout
	}
	if opts.CancelGrace <= 0 {
		opts.CancelGrace = DefaultCancelGrace
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.MaxRetained <= 0 {
		opts.MaxRetained = DefaultMaxRetained
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Observer == nil {
		opts.Observer = Observers(nil)
	}
	allowed := map[string]bool{}
	for _, name := range opts.AllowedProperties {
		allowed[name] = true
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Executor{
		opts:     opts,
		allowed:  allowed,
		log:      opts.Logger,
		now:      opts.Now,
		slots:    newJobSlots(opts.Jobs),
		ctx:      ctx,
		cancel:   cancel,
		ops:      map[string]*execution{},
		inflight: map[digest.Digest]*execution{},
		persists: make(chan struct{}, maxPersists),
	}, nil
}

// Close refuses new work, kills running and queued actions (their operations
// complete with UNAVAILABLE, so clients retry elsewhere or later) and waits
// for them to finish.
func (e *Executor) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel(errShutdown)
	e.wg.Wait()
	return nil
}

// Execute answers req: from the action cache (cached_result), by joining an
// identical in-flight execution, or by queueing a new one. Problems with the
// request itself (bad action digest, unsupported digest function) are
// returned as errors; everything else, including a missing Action blob, ends
// up in the operation's ExecuteResponse.status.
//
// The caller counts as waiting on the execution until ctx is done; when the
// last waiter is gone for Options.CancelGrace, the action is killed.
func (e *Executor) Execute(ctx context.Context, req *repb.ExecuteRequest) (*Operation, error) {
	d, err := digest.FromProto(req.GetActionDigest())
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "action digest")
	}
	if err := digest.CheckFunction(req.GetDigestFunction()); err != nil {
		return nil, err
	}
	queued := e.now()
	client := clientInfoFrom(ctx)

	if op, ok, err := e.join(ctx, d); ok || err != nil {
		return op, err
	}

	action, err := e.loadAction(ctx, d)
	if err != nil {
		e.report(ActionReport{ActionDigest: d, Client: client, Queued: queued}, nil, err, false)
		return e.answer(d, queued, errorResponse(err, nil)), nil
	}
	if !req.GetSkipCacheLookup() && !action.GetDoNotCache() {
		res, err := e.opts.Cache.Get(ctx, d)
		switch {
		case err == nil:
			op := e.answer(d, queued, &repb.ExecuteResponse{Result: res, CachedResult: true})
			t := stageTimes{queued: queued, workerCompleted: e.now()}
			e.logDone(ctx, d, res, nil, true, t, sandbox.Timings{}, "")
			e.report(ActionReport{ActionDigest: d, Client: client, Queued: queued}, res, nil, true)
			return op, nil
		case rpcstatus.Code(err) == codes.NotFound:
		case ctx.Err() != nil:
			return nil, rpcstatus.FromContext(ctx)
		default:
			// A broken cache entry must not fail the build: run the action,
			// which also overwrites the entry.
			e.log.WarnContext(ctx, "action cache lookup failed", "action_digest", d.String(), "error", err.Error())
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errShutdown
	}
	if !action.GetDoNotCache() {
		// Someone may have started the same action while we read the cache.
		if ex := e.inflight[d]; ex != nil {
			e.attachLocked(ctx, ex)
			return newOperation(ex), nil
		}
	}
	ex := newExecution(e.ctx, newOperationName(), d, queued)
	ex.priority = req.GetExecutionPolicy().GetPriority()
	ex.seq = e.seq.Add(1)
	ex.client = client
	e.ops[ex.name] = ex
	if !action.GetDoNotCache() {
		e.inflight[d] = ex
	}
	e.attachLocked(ctx, ex)
	op := newOperation(ex) // before the worker can move it past QUEUED
	e.opts.Observer.ActionQueued(ex.seq, QueuedAction{ActionDigest: d, Client: client, Queued: queued})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer e.recoverRun(ex)
		e.run(ex, action)
	}()
	return op, nil
}

// recoverRun completes ex with INTERNAL if its run panicked. A panic in an
// execution goroutine (in the executor or in the input-root, sandbox or
// output code it calls, all fed by client data) would otherwise kill the
// daemon with every build using it; run's own defers have released the job
// slot and the input root by the time this runs.
func (e *Executor) recoverRun(ex *execution) {
	p := recover()
	if p == nil {
		return
	}
	e.log.Error("panic while running an action", "action_digest", ex.actionDigest.String(), "operation", ex.name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	e.complete(ex, errorResponse(rpcstatus.Newf(codes.Internal, "internal error while running the action (panic: %v); the server logged the details", p), nil))
}

// join attaches to an in-flight execution of d, if there is one. Only
// cacheable actions are in e.inflight, and an identical digest means an
// identical Action, so do_not_cache needs no check here. skip_cache_lookup
// does not prevent joining: REAPI allows merging with in-flight executions.
func (e *Executor) join(ctx context.Context, d digest.Digest) (*Operation, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, false, errShutdown
	}
	ex := e.inflight[d]
	if ex == nil {
		return nil, false, nil
	}
	e.attachLocked(ctx, ex)
	return newOperation(ex), true, nil
}

// Wait reattaches to the operation called name, running or recently
// finished. It is NOT_FOUND when there is no such operation (any more). Like
// Execute, the caller counts as waiting until ctx is done.
func (e *Executor) Wait(ctx context.Context, name string) (*Operation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ex, err := e.opLocked(name)
	if err != nil {
		return nil, rpcstatus.Newf(codes.NotFound, "%s; call Execute again", rpcstatus.Message(err))
	}
	if !ex.done() {
		e.attachLocked(ctx, ex)
	}
	return newOperation(ex), nil
}

// opLocked finds the operation called name, or NOT_FOUND.
func (e *Executor) opLocked(name string) (*execution, error) {
	ex := e.ops[name]
	if ex == nil {
		return nil, rpcstatus.Newf(codes.NotFound, "operation %q does not exist (unknown, finished more than %s ago, or more than %d operations ago)", name, e.opts.Retention, e.opts.MaxRetained)
	}
	return ex, nil
}

// Lookup returns a handle on the operation called name without counting
// the caller as waiting on it (GetOperation). It is NOT_FOUND when there is
// no such operation (any more).
func (e *Executor) Lookup(name string) (*Operation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ex, err := e.opLocked(name)
	if err != nil {
		return nil, err
	}
	return newOperation(ex), nil
}

// Cancel kills the operation called name if it is still queued or running,
// for every caller waiting on it: it completes with CANCELLED and its
// result is not cached. A finished operation is left as it is. It is
// NOT_FOUND when there is no such operation (any more).
func (e *Executor) Cancel(name string) error {
	e.mu.Lock()
	ex, err := e.opLocked(name)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if !ex.done() {
		ex.cancel(errCancelled)
	}
	return nil
}

// attachLocked counts ctx's caller as a waiter until ctx is done.
func (e *Executor) attachLocked(ctx context.Context, ex *execution) {
	ex.waiters++
	if ex.grace != nil {
		ex.grace.Stop()
		ex.grace = nil
	}
	context.AfterFunc(ctx, func() { e.release(ex) })
}

// release drops a waiter. When none is left, the execution gets
// CancelGrace to be reattached before it is killed: the server cannot tell a
// client that cancelled from one whose connection broke.
func (e *Executor) release(ex *execution) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ex.waiters--
	if ex.waiters > 0 || ex.done() {
		return
	}
	ex.grace = time.AfterFunc(e.opts.CancelGrace, func() {
		e.mu.Lock()
		if ex.waiters > 0 {
			e.mu.Unlock()
			return
		}
		ex.grace = nil
		// A new identical request must not join an execution being killed.
		if e.inflight[ex.actionDigest] == ex {
			delete(e.inflight, ex.actionDigest)
		}
		e.mu.Unlock()
		ex.cancel(errNoWaiters)
	})
}

// answer records a response that needed no run (a cache hit, or a request
// that failed before it could be queued) as a finished operation, so that it
// too can be looked up by name.
func (e *Executor) answer(d digest.Digest, queued time.Time, resp *repb.ExecuteResponse) *Operation {
	ex := newExecution(e.ctx, newOperationName(), d, queued)
	ex.finish(resp)
	ex.cancel(nil)
	e.mu.Lock()
	e.ops[ex.name] = ex
	e.mu.Unlock()
	e.forgetLater(ex)
	return newOperation(ex)
}

// complete publishes resp and stops deduplicating onto ex. The result was
// written to the action cache before, so a request arriving now finds it there.
func (e *Executor) complete(ex *execution, resp *repb.ExecuteResponse) {
	e.mu.Lock()
	if e.inflight[ex.actionDigest] == ex {
		delete(e.inflight, ex.actionDigest)
	}
	if ex.grace != nil {
		ex.grace.Stop()
		ex.grace = nil
	}
	e.mu.Unlock()
	ex.finish(resp)
	ex.cancel(nil)
	e.forgetLater(ex)
}

// forgetLater keeps the finished ex for lookups for Retention, or until
// MaxRetained newer ones finished.
func (e *Executor) forgetLater(ex *execution) {
	e.mu.Lock()
	e.retained = append(e.retained, ex)
	for len(e.retained) > e.opts.MaxRetained {
		e.forgetLocked(e.retained[0])
	}
	e.mu.Unlock()
	time.AfterFunc(e.opts.Retention, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.forgetLocked(ex)
	})
}

// forgetLocked drops ex from the lookups. Operations expire in the order
// they finished, so ex is at the front of retained unless the cap dropped
// it already.
func (e *Executor) forgetLocked(ex *execution) {
	if e.ops[ex.name] == ex {
		delete(e.ops, ex.name)
	}
	if len(e.retained) > 0 && e.retained[0] == ex {
		e.retained[0] = nil
		e.retained = e.retained[1:]
	}
}

func newOperationName() string { return "operations/" + uuid.NewString() }
