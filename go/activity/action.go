package activity

import "time"

// Action is one request as the status page shows it.
type Action struct {
	// ID numbers executions; 0 for a request answered without running.
	ID uint64 `json:"id"`
	// State is "queued", "running" or "done".
	State        string    `json:"state"`
	ActionDigest string    `json:"action_digest"`
	Mnemonic     string    `json:"mnemonic,omitempty"`
	TargetID     string    `json:"target_id,omitempty"`
	Tool         string    `json:"tool,omitempty"`
	Argv0        string    `json:"argv0,omitempty"`
	Queued       time.Time `json:"queued"`
	Started      time.Time `json:"started,omitzero"`
	Finished     time.Time `json:"finished,omitzero"`
	// Outcome is an executor.ActionOutcome, once done.
	Outcome  string `json:"outcome,omitempty"`
	ExitCode int32  `json:"exit_code"`
	Stages   Stages `json:"stages"`
	// Stderr names the stderr blob as "hash/size", empty when there is none.
	Stderr string `json:"stderr,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Elapsed is how long a has been in the daemon's hands at now (until it
// finished, once done).
func (a Action) Elapsed(now time.Time) time.Duration {
	end := a.Finished
	if end.IsZero() {
		end = now
	}
	if a.Queued.IsZero() || end.Before(a.Queued) {
		return 0
	}
	return end.Sub(a.Queued)
}
