package activity

import "time"

// Snapshot is everything the status page shows, at one moment. It travels
// as JSON from a VM guest to its host and to the `status` command.
type Snapshot struct {
	Version string `json:"version"`
	// Mode says how actions run: "linux", "linux (rootless)", "cache only".
	Mode      string    `json:"mode"`
	StartedAt time.Time `json:"started_at"`
	Now       time.Time `json:"now"`
	CAS       CASUsage  `json:"cas"`
	// Active are the running actions, then the queued ones, each oldest
	// first.
	Active []Action `json:"active"`
	// Finished are the last finished requests, newest first.
	Finished []Action `json:"finished"`
	// Outcomes counts requests by outcome since the daemon started.
	Outcomes map[string]int64 `json:"outcomes"`
	// Summary is the daemon's start-up summary: its job slots, runtimes
	// and limits.
	Summary Summary `json:"summary"`
}

// Uptime is how long the daemon has run at the snapshot's time.
func (s Snapshot) Uptime() time.Duration {
	if s.StartedAt.IsZero() {
		return 0
	}
	return s.Now.Sub(s.StartedAt)
}
