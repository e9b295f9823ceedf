package executor

import (
	"context"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/actiond/actiond/go/digest"
)

// execution is one run of an action (or one answered request, for cache hits
// and requests that failed before running). Callers deduplicated onto it
// share it, and it is what an operation name refers to.
type execution struct {
	name         string
	actionDigest digest.Digest
	queued       time.Time
	priority     int32  // ExecutionPolicy.priority of the request that started it
	seq          uint64 // order of creation, for first come first served
	client       ClientInfo
	// argv0 is the command's program, once the run read its Command; only
	// the run's goroutine uses it.
	argv0 string

	ctx    context.Context
	cancel context.CancelCauseFunc

	// Guarded by Executor.mu.
	waiters int
	grace   *time.Timer

	mu      sync.Mutex
	stage   repb.ExecutionStage_Value
	resp    *repb.ExecuteResponse
	changed chan struct{} // closed and replaced on every change
}

func newExecution(parent context.Context, name string, d digest.Digest, queued time.Time) *execution {
	ctx, cancel := context.WithCancelCause(parent)
	return &execution{
		name:         name,
		actionDigest: d,
		queued:       queued,
		ctx:          ctx,
		cancel:       cancel,
		stage:        repb.ExecutionStage_QUEUED,
		changed:      make(chan struct{}),
	}
}

func (ex *execution) setStage(stage repb.ExecutionStage_Value) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.resp != nil || ex.stage == stage {
		return
	}
	ex.stage = stage
	close(ex.changed)
	ex.changed = make(chan struct{})
}

// finish records the response; later calls are ignored.
func (ex *execution) finish(resp *repb.ExecuteResponse) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.resp != nil {
		return
	}
	ex.stage = repb.ExecutionStage_COMPLETED
	ex.resp = resp
	close(ex.changed)
	ex.changed = make(chan struct{})
}

func (ex *execution) done() bool {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.resp != nil
}

// state returns the Operation as a client sees it now, and a channel that is
// closed when that changes.
func (ex *execution) state() (*longrunningpb.Operation, <-chan struct{}) {
	ex.mu.Lock()
	stage, resp, changed := ex.stage, ex.resp, ex.changed
	ex.mu.Unlock()

	op := &longrunningpb.Operation{Name: ex.name, Done: resp != nil}
	md, err := anypb.New(&repb.ExecuteOperationMetadata{Stage: stage, ActionDigest: ex.actionDigest.Proto()})
	if err == nil {
		op.Metadata = md
	}
	if resp != nil {
		// Marshalling these generated messages cannot fail; if it somehow
		// did, a done operation without a response makes the client retry.
		if r, err := anypb.New(resp); err == nil {
			op.Result = &longrunningpb.Operation_Response{Response: r}
		}
	}
	return op, changed
}

// Operation is a caller's handle on an execution. It is not safe for
// concurrent use; each caller gets its own.
type Operation struct {
	ex           *execution
	first        *longrunningpb.Operation // state when the handle was made
	firstChanged <-chan struct{}
}

func newOperation(ex *execution) *Operation {
	op := &Operation{ex: ex}
	op.first, op.firstChanged = ex.state()
	return op
}

// Name is the stable operation name, "operations/<uuid>", for WaitExecution.
func (o *Operation) Name() string { return o.ex.name }

// State returns the operation as it is now (with Done set and an
// ExecuteResponse once it completed) and a channel that is closed when the
// state changes.
func (o *Operation) State() (*longrunningpb.Operation, <-chan struct{}) {
	return o.ex.state()
}

// Next is State, except that its first call returns the state the operation
// had when the handle was made: QUEUED for a new execution, even if a worker
// has picked it up since. Streaming Next's results shows every client the
// stages in order, starting with the one its request created.
func (o *Operation) Next() (*longrunningpb.Operation, <-chan struct{}) {
	if o.first != nil {
		first, changed := o.first, o.firstChanged
		o.first, o.firstChanged = nil, nil
		return first, changed
	}
	return o.ex.state()
}
