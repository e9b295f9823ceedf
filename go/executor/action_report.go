package executor

import (
	"time"

	"github.com/actiond/actiond/go/digest"
)

// ActionReport describes a request once it is answered.
type ActionReport struct {
	// ID is ActionQueued's id; 0 for a request answered without running.
	ID           uint64
	ActionDigest digest.Digest
	Client       ClientInfo
	// Argv0 is the command's program, when its Command could be read.
	Argv0   string
	Outcome ActionOutcome
	// ExitCode is the command's, or -1 when it did not run to its end.
	ExitCode int32
	// Started says the execution held a job slot (it was reported by
	// ActionStarted).
	Started bool
	Stages  StageDurations
	// Stderr is the digest of the stderr blob in the CAS, when there is one.
	Stderr digest.Digest
	// HasStderr says Stderr is set (the empty digest is a valid blob).
	HasStderr bool
	// Error is the response status message for a failed request.
	Error    string
	Queued   time.Time
	Finished time.Time
}
