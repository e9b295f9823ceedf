package activity_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/executor"
)

// TestTrackerFollowsActions drives a Tracker as the executor would and
// checks each Snapshot: running before queued, oldest first; finished
// newest first and capped; outcomes counted past the cap; stderr named
// only when there is some.
func TestTrackerFollowsActions(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := base
	tr := activity.NewTracker(3, func() time.Time { return now })
	d := func(i int) digest.Digest { return digest.OfBytes(fmt.Appendf(nil, "action %d", i)) }

	for i := 1; i <= 3; i++ {
		tr.ActionQueued(uint64(i), executor.QueuedAction{ActionDigest: d(i), Client: executor.ClientInfo{Mnemonic: "M"}, Queued: base.Add(time.Duration(i) * time.Second)})
	}
	now = base.Add(10 * time.Second)
	tr.ActionStarted(3, "/bin/three")

	var s activity.Snapshot
	tr.Fill(&s)
	var got []string
	for _, a := range s.Active {
		got = append(got, fmt.Sprintf("%d:%s", a.ID, a.State))
	}
	if fmt.Sprint(got) != "[3:running 1:queued 2:queued]" {
		t.Fatalf("active = %v, want [3:running 1:queued 2:queued]", got)
	}
	if s.Active[0].Argv0 != "/bin/three" || !s.Active[0].Started.Equal(now) {
		t.Errorf("running action = %+v, want argv0 /bin/three started at %v", s.Active[0], now)
	}

	stderr := digest.OfBytes([]byte("warning\n"))
	tr.ActionDone(executor.ActionReport{ID: 3, ActionDigest: d(3), Outcome: executor.OutcomeNonZeroExit, ExitCode: 2, Started: true, Stderr: stderr, HasStderr: true, Queued: base, Finished: now})
	tr.ActionDone(executor.ActionReport{ID: 1, ActionDigest: d(1), Outcome: executor.OutcomeCancelled, ExitCode: -1, Stderr: digest.Empty, HasStderr: true})
	for i := 0; i < 3; i++ {
		tr.ActionDone(executor.ActionReport{ActionDigest: d(10 + i), Outcome: executor.OutcomeCached})
	}
	s = activity.Snapshot{}
	tr.Fill(&s)
	if len(s.Active) != 1 || s.Active[0].ID != 2 {
		t.Errorf("active after two finished = %+v, want only id 2", s.Active)
	}
	if len(s.Finished) != 3 {
		t.Fatalf("finished = %d entries, want the cap of 3", len(s.Finished))
	}
	for i, a := range s.Finished {
		if want := d(12 - i).String(); a.ActionDigest != want {
			t.Errorf("finished[%d] = %s, want %s (newest first)", i, a.ActionDigest, want)
		}
	}
	want := map[string]int64{"nonzero_exit": 1, "cancelled": 1, "cached": 3}
	if fmt.Sprint(s.Outcomes) != fmt.Sprint(want) {
		t.Errorf("outcomes = %v, want %v", s.Outcomes, want)
	}

	// The ring now holds only cache hits; check stderr naming with a fresh
	// tracker.
	tr = activity.NewTracker(0, nil)
	tr.ActionDone(executor.ActionReport{ID: 7, Outcome: executor.OutcomeNonZeroExit, Stderr: stderr, HasStderr: true})
	tr.ActionDone(executor.ActionReport{ID: 8, Outcome: executor.OutcomeSuccess, Stderr: digest.Empty, HasStderr: true})
	s = activity.Snapshot{}
	tr.Fill(&s)
	if got, want := s.Finished[1].Stderr, fmt.Sprintf("%s/%d", stderr.Hash, stderr.Size); got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	if s.Finished[0].Stderr != "" {
		t.Errorf("empty stderr named %q, want nothing", s.Finished[0].Stderr)
	}
}

func TestElapsed(t *testing.T) {
	q := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		a    activity.Action
		now  time.Time
		want time.Duration
	}{
		{"running", activity.Action{Queued: q}, q.Add(3 * time.Second), 3 * time.Second},
		{"finished", activity.Action{Queued: q, Finished: q.Add(time.Second)}, q.Add(time.Hour), time.Second},
		{"never queued", activity.Action{}, q, 0},
		{"clock went back", activity.Action{Queued: q}, q.Add(-time.Second), 0},
	}
	for _, tc := range tests {
		if got := tc.a.Elapsed(tc.now); got != tc.want {
			t.Errorf("%s: Elapsed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
