//go:build linux

package sandbox

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actiond/actiond/go/sandbox/internal/initproc"
)

func TestActionResult(t *testing.T) {
	// Monotonic times: Run starts at 1000, the init forks the command at
	// 1100, its exec succeeds at 1150, it exits at 1400, the action is over
	// at 1500.
	started := initproc.Report{Kind: initproc.ReportStarted, Forked: 1100, Mono: 1150}
	exit := func(code, signal int) initproc.Report {
		return initproc.Report{Kind: initproc.ReportExit, ExitCode: code, Signal: signal, Mono: 1400}
	}
	ranToExit := Timings{Setup: 100, Spawn: 50, Run: 250, Teardown: 100}
	killedWhileRunning := Timings{Setup: 100, Spawn: 50, Run: 350}
	neverStarted := Timings{Setup: 500}
	sigkill := Result{ExitCode: 137, Signal: syscall.SIGKILL}
	errBroken := errors.New("broken pipe")

	for _, tc := range []struct {
		name    string
		end     actionEnd
		want    Result
		wantErr error  // matched with errors.Is
		wantMsg string // contained in the error
	}{
		{
			name: "exit 0",
			end:  actionEnd{reports: []initproc.Report{started, exit(0, 0)}},
			want: Result{Timings: ranToExit},
		},
		{
			name: "exit code",
			end:  actionEnd{reports: []initproc.Report{started, exit(3, 0)}},
			want: Result{ExitCode: 3, Timings: ranToExit},
		},
		{
			name: "killed by a signal of its own",
			end:  actionEnd{reports: []initproc.Report{started, exit(143, 15)}},
			want: Result{ExitCode: 143, Signal: syscall.SIGTERM, Timings: ranToExit},
		},
		{
			name: "prestarted init",
			end:  actionEnd{prestarted: true, reports: []initproc.Report{started, exit(0, 0)}},
			want: Result{Timings: Timings{Setup: 100, Spawn: 50, Run: 250, Teardown: 100, Prestarted: true}},
		},
		{
			name: "cannot execute",
			end:  actionEnd{reports: []initproc.Report{{Kind: initproc.ReportExec, Error: "not found"}}},
			want: Result{ExitCode: 127, ExecError: "not found", Timings: neverStarted},
		},
		{
			name:    "setup failed",
			end:     actionEnd{initGone: true, reports: []initproc.Report{{Kind: initproc.ReportSetup, Error: "mount: no such file"}}},
			want:    Result{Timings: neverStarted},
			wantMsg: "sandbox setup failed: mount: no such file",
		},
		{
			name: "timed out during setup: the timeout wins over the setup failure",
			end:  actionEnd{timedOut: true, initGone: true, reports: []initproc.Report{{Kind: initproc.ReportSetup, Error: "interrupted"}}},
			want: Result{ExitCode: 137, Signal: syscall.SIGKILL, TimedOut: true, Timings: neverStarted},
		},
		{
			name: "timed out while running",
			end:  actionEnd{timedOut: true, initGone: true, reports: []initproc.Report{started}},
			want: Result{ExitCode: 137, Signal: syscall.SIGKILL, TimedOut: true, Timings: killedWhileRunning},
		},
		{
			name: "output too large while running",
			end:  actionEnd{outputTooLarge: true, initGone: true, reports: []initproc.Report{started}},
			want: Result{ExitCode: 137, Signal: syscall.SIGKILL, OutputTooLarge: true, Timings: killedWhileRunning},
		},
		{
			name: "output too large, found after a normal exit",
			end:  actionEnd{outputTooLarge: true, reports: []initproc.Report{started, exit(0, 0)}},
			want: Result{OutputTooLarge: true, Timings: ranToExit},
		},
		{
			name: "timed out as the command exited: its exit status stays",
			end:  actionEnd{timedOut: true, reports: []initproc.Report{started, exit(1, 0)}},
			want: Result{ExitCode: 1, TimedOut: true, Timings: ranToExit},
		},
		{
			name:    "cancelled",
			end:     actionEnd{ctxErr: context.Canceled, initGone: true, reports: []initproc.Report{started}},
			want:    withTimings(sigkill, killedWhileRunning),
			wantErr: context.Canceled,
		},
		{
			name:    "cancelled before the init reported anything",
			end:     actionEnd{ctxErr: context.DeadlineExceeded, initGone: true},
			want:    withTimings(sigkill, neverStarted),
			wantErr: context.DeadlineExceeded,
		},
		{
			name: "exit reported after the action's end: the run ends with the action",
			end: actionEnd{timedOut: true, reports: []initproc.Report{started,
				{Kind: initproc.ReportExit, Mono: 1600}}},
			want: Result{TimedOut: true, Timings: killedWhileRunning},
		},
		{
			name:    "init ended without a result",
			end:     actionEnd{initGone: true, reports: []initproc.Report{started}},
			want:    Result{Timings: killedWhileRunning},
			wantErr: errNoResult,
		},
		{
			name:    "reports unreadable",
			end:     actionEnd{reportsErr: errBroken, reports: []initproc.Report{started, exit(0, 0)}},
			wantErr: errBroken,
		},
		{
			name:    "wait for the init failed",
			end:     actionEnd{initGone: true, initWaitErr: errBroken},
			wantErr: errBroken,
			wantMsg: "wait for sandbox init",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.end.start, tc.end.end = 1000, 1500
			got, err := actionResult(tc.end)
			if got != tc.want {
				t.Errorf("result: got %+v, want %+v", got, tc.want)
			}
			wantNoErr := tc.wantErr == nil && tc.wantMsg == ""
			if wantNoErr && err != nil {
				t.Errorf("error: got %v, want none", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error: got %v, want %v", err, tc.wantErr)
			}
			if tc.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tc.wantMsg)) {
				t.Errorf("error: got %v, want it to contain %q", err, tc.wantMsg)
			}
		})
	}
}

func withTimings(r Result, t Timings) Result {
	r.Timings = t
	return r
}

func TestActionTimingsAddUp(t *testing.T) {
	for _, tc := range []struct {
		name          string
		started       initproc.Report
		wantBreakdown bool
	}{
		{"with the init's setup marks", initproc.Report{Kind: initproc.ReportStarted, Configured: 1020, Mounted: 1070, Forked: 1100, Mono: 1150}, true},
		{"without them (an older init)", initproc.Report{Kind: initproc.ReportStarted, Forked: 1100, Mono: 1150}, false},
		{"marks out of order", initproc.Report{Kind: initproc.ReportStarted, Configured: 1080, Mounted: 1070, Forked: 1100, Mono: 1150}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := summarizeReports([]initproc.Report{tc.started, {Kind: initproc.ReportExit, Mono: 1400}})
			got := actionTimings(s, 1000, 1500)
			if sum := got.Setup + got.Spawn + got.Run + got.Teardown; sum != 500*time.Nanosecond {
				t.Errorf("timings %+v add up to %v, want the whole run, 500ns", got, sum)
			}
			parts := got.SetupConfig + got.SetupMounts + got.SetupFork
			if tc.wantBreakdown && (parts != got.Setup || got.SetupConfig != 20 || got.SetupMounts != 50) {
				t.Errorf("setup %v broken down as config %v, mounts %v, fork %v; want 20ns, 50ns, 30ns", got.Setup, got.SetupConfig, got.SetupMounts, got.SetupFork)
			}
			if !tc.wantBreakdown && parts != 0 {
				t.Errorf("setup broken down as %v, %v, %v without usable marks; want none", got.SetupConfig, got.SetupMounts, got.SetupFork)
			}
		})
	}
}

func TestActionOver(t *testing.T) {
	exit := []initproc.Report{{Kind: initproc.ReportStarted}, {Kind: initproc.ReportExit}}
	execFailed := []initproc.Report{{Kind: initproc.ReportExec}}
	onlyStarted := []initproc.Report{{Kind: initproc.ReportStarted}}
	setupFailed := []initproc.Report{{Kind: initproc.ReportSetup}}
	for _, tc := range []struct {
		name                  string
		reportsRead, initGone bool
		reports               []initproc.Report
		want                  bool
	}{
		{"reports still open", false, false, nil, false},
		{"reports still open, init gone", false, true, nil, false},
		{"exit reported, init still exiting", true, false, exit, true},
		{"exec failure reported, init still exiting", true, false, execFailed, true},
		{"setup failure reported, init still exiting", true, false, setupFailed, false},
		{"pipe closed after the start only", true, false, onlyStarted, false},
		{"pipe closed after the start only, init gone", true, true, onlyStarted, true},
		{"nothing reported, init gone", true, true, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := actionOver(tc.reportsRead, tc.initGone, tc.reports); got != tc.want {
				t.Errorf("actionOver(%v, %v, %v) = %v, want %v", tc.reportsRead, tc.initGone, tc.reports, got, tc.want)
			}
		})
	}
}
