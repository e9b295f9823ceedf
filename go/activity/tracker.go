package activity

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/actiond/actiond/go/executor"
)

// DefaultKeep is how many finished requests a Tracker remembers.
const DefaultKeep = 200

// Tracker follows a daemon's requests as an executor.Observer. It is safe
// for concurrent use.
type Tracker struct {
	keep int
	now  func() time.Time

	mu       sync.Mutex
	active   map[uint64]*Action
	finished []Action // a ring of up to keep, oldest at next once full
	next     int
	outcomes map[string]int64
}

// NewTracker returns a Tracker remembering the last keep finished requests
// (DefaultKeep when keep <= 0), reading the time from now (time.Now when
// nil).
func NewTracker(keep int, now func() time.Time) *Tracker {
	if keep <= 0 {
		keep = DefaultKeep
	}
	if now == nil {
		now = time.Now
	}
	return &Tracker{keep: keep, now: now, active: map[uint64]*Action{}, outcomes: map[string]int64{}}
}

// ActionQueued implements executor.Observer.
func (t *Tracker) ActionQueued(id uint64, q executor.QueuedAction) {
	a := &Action{
		ID:           id,
		State:        "queued",
		ActionDigest: q.ActionDigest.String(),
		Mnemonic:     q.Client.Mnemonic,
		TargetID:     q.Client.TargetID,
		Tool:         q.Client.Tool,
		Queued:       q.Queued,
	}
	t.mu.Lock()
	t.active[id] = a
	t.mu.Unlock()
}

// ActionStarted implements executor.Observer.
func (t *Tracker) ActionStarted(id uint64, argv0 string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.active[id]; a != nil {
		a.State, a.Argv0, a.Started = "running", argv0, t.now()
	}
}

// ActionDone implements executor.Observer.
func (t *Tracker) ActionDone(r executor.ActionReport) {
	a := Action{
		ID:           r.ID,
		State:        "done",
		ActionDigest: r.ActionDigest.String(),
		Mnemonic:     r.Client.Mnemonic,
		TargetID:     r.Client.TargetID,
		Tool:         r.Client.Tool,
		Argv0:        r.Argv0,
		Queued:       r.Queued,
		Finished:     r.Finished,
		Outcome:      string(r.Outcome),
		ExitCode:     r.ExitCode,
		Stages: Stages{
			Queue:  r.Stages.Queue,
			Input:  r.Stages.Input,
			Setup:  r.Stages.Setup,
			Spawn:  r.Stages.Spawn,
			Run:    r.Stages.Run,
			Output: r.Stages.Output,
		},
		Error: r.Error,
	}
	if r.HasStderr && r.Stderr.Size > 0 {
		a.Stderr = r.Stderr.Hash + "/" + strconv.FormatInt(r.Stderr.Size, 10)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev := t.active[r.ID]; prev != nil {
		a.Started = prev.Started
		delete(t.active, r.ID)
	}
	t.outcomes[a.Outcome]++
	if len(t.finished) < t.keep {
		t.finished = append(t.finished, a)
		return
	}
	t.finished[t.next] = a
	t.next = (t.next + 1) % t.keep
}

// Fill sets s's Active, Finished and Outcomes from what t knows now.
func (t *Tracker) Fill(s *Snapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.Active = make([]Action, 0, len(t.active))
	for _, a := range t.active {
		s.Active = append(s.Active, *a)
	}
	slices.SortFunc(s.Active, func(x, y Action) int {
		if x.State != y.State {
			if x.State == "running" {
				return -1
			}
			return 1
		}
		return x.Queued.Compare(y.Queued)
	})
	s.Finished = make([]Action, 0, len(t.finished))
	for i := range t.finished {
		// Newest first: the ring's newest entry sits just before next.
		j := (t.next - 1 - i + 2*len(t.finished)) % len(t.finished)
		s.Finished = append(s.Finished, t.finished[j])
	}
	s.Outcomes = make(map[string]int64, len(t.outcomes))
	for k, v := range t.outcomes {
		s.Outcomes[k] = v
	}
}
