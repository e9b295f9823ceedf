package executor

import (
	"time"

	"github.com/actiond/actiond/go/digest"
)

// Observer is told how each request goes, for metrics and the status page.
// Its methods run on the request's and the execution's goroutines, so they
// must be safe for concurrent use and return quickly.
//
// An execution that runs is reported as ActionQueued, then ActionStarted
// once it holds a job slot (unless it ended while queued), then
// ActionDone with the same id. A request answered without running (a cache
// hit, or one that failed before it could be queued) is reported only by
// ActionDone, with id 0.
type Observer interface {
	ActionQueued(id uint64, action QueuedAction)
	ActionStarted(id uint64, argv0 string)
	ActionDone(report ActionReport)
}

// QueuedAction is what is known of an execution when it is queued.
type QueuedAction struct {
	ActionDigest digest.Digest
	Client       ClientInfo
	Queued       time.Time
}
