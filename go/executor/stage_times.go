package executor

import (
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// stageTimes are the pipeline's clock readings; zero ones were not reached.
type stageTimes struct {
	queued, workerStart               time.Time
	inputStart, inputCompleted        time.Time
	executionStart, executionComplete time.Time
	outputStart, outputCompleted      time.Time
	workerCompleted                   time.Time
	// published is when the response is ready for the waiters (the action
	// cache entry staged, the log line next).
	published time.Time
}

func (t stageTimes) metadata(virtual time.Duration) *repb.ExecutedActionMetadata {
	ts := func(t time.Time) *timestamppb.Timestamp {
		if t.IsZero() {
			return nil
		}
		return timestamppb.New(t)
	}
	md := &repb.ExecutedActionMetadata{
		Worker:                         WorkerName,
		QueuedTimestamp:                ts(t.queued),
		WorkerStartTimestamp:           ts(t.workerStart),
		InputFetchStartTimestamp:       ts(t.inputStart),
		InputFetchCompletedTimestamp:   ts(t.inputCompleted),
		ExecutionStartTimestamp:        ts(t.executionStart),
		ExecutionCompletedTimestamp:    ts(t.executionComplete),
		OutputUploadStartTimestamp:     ts(t.outputStart),
		OutputUploadCompletedTimestamp: ts(t.outputCompleted),
		WorkerCompletedTimestamp:       ts(t.workerCompleted),
	}
	if virtual > 0 {
		md.VirtualExecutionDuration = durationpb.New(virtual)
	}
	return md
}
