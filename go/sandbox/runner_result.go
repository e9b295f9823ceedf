//go:build linux

package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/actiond/actiond/go/sandbox/internal/initproc"
)

// actionEnd is what Run learned about one action by the time it was over:
// the init's reports, whether the daemon killed the init and why, and the
// monotonic clock (initproc.MonoNow) at both ends.
type actionEnd struct {
	// start is when Run began, end when the action was over.
	start, end int64
	prestarted bool // the init was pre-started (see Options.Prestart)

	reports    []initproc.Report
	reportsErr error // reading or decoding the reports failed

	initGone    bool // the init was reaped before the action was over
	initState   *os.ProcessState
	initWaitErr error

	// Why the daemon killed the init, if it did.
	ctxErr         error
	timedOut       bool
	outputTooLarge bool
}

// killed reports whether the daemon killed the init.
func (e *actionEnd) killed() bool {
	return e.ctxErr != nil || e.timedOut || e.outputTooLarge
}

// errNoResult is wrapped by the error of a Run whose init ended without
// saying how the command did (it crashed, or was killed from outside).
var errNoResult = errors.New("sandbox init ended without reporting a result")

// actionResult maps how an action ended to Run's result. The error is a
// setup failure (unless the daemon killed the init first: then its own
// reason is the result), ctxErr when ctx ended the run, or errNoResult.
func actionResult(e actionEnd) (Result, error) {
	if e.initWaitErr != nil {
		return Result{}, fmt.Errorf("wait for sandbox init: %w", e.initWaitErr)
	}
	if e.reportsErr != nil {
		return Result{}, e.reportsErr
	}
	s := summarizeReports(e.reports)
	res := Result{TimedOut: e.timedOut, OutputTooLarge: e.outputTooLarge, Timings: actionTimings(s, e.start, e.end)}
	res.Timings.Prestarted = e.prestarted
	switch {
	case s.setupFailure != nil && !e.killed():
		return res, fmt.Errorf("sandbox setup failed: %s", s.setupFailure.Error)
	case s.exit != nil:
		res.ExitCode, res.Signal = s.exit.ExitCode, syscall.Signal(s.exit.Signal)
	case s.execFailure != nil:
		res.ExitCode, res.ExecError = 127, s.execFailure.Error
	case e.killed():
		res.ExitCode, res.Signal = 128+int(syscall.SIGKILL), syscall.SIGKILL
	default:
		return res, fmt.Errorf("%w (init %v)", errNoResult, e.initState)
	}
	return res, e.ctxErr
}

// reportSummary picks out of an init's reports the ones a result is made
// of; nil or 0 where the init did not send that report.
type reportSummary struct {
	started, forked     int64 // initproc.ReportStarted's Mono and Forked
	configured, mounted int64 // and its Configured and Mounted
	exit                *initproc.Report
	setupFailure        *initproc.Report
	execFailure         *initproc.Report
}

func summarizeReports(reports []initproc.Report) reportSummary {
	var s reportSummary
	for i := range reports {
		switch rep := &reports[i]; rep.Kind {
		case initproc.ReportStarted:
			s.started, s.forked = rep.Mono, rep.Forked
			s.configured, s.mounted = rep.Configured, rep.Mounted
		case initproc.ReportExit:
			s.exit = rep
		case initproc.ReportSetup:
			s.setupFailure = rep
		case initproc.ReportExec:
			s.execFailure = rep
		}
	}
	return s
}

// actionTimings splits start..end (initproc.MonoNow values of Run's start and of the
// action's end) at the init's reports. When the command did not exit by
// itself (it was killed, or its exit time is out of range), its run ends
// with the action; when it never started, all is setup.
func actionTimings(s reportSummary, start, end int64) Timings {
	var t Timings
	switch {
	case s.started != 0 && s.exit != nil && s.exit.Mono >= s.started && s.exit.Mono <= end:
		t = Timings{
			Setup:    time.Duration(s.forked - start),
			Spawn:    time.Duration(s.started - s.forked),
			Run:      time.Duration(s.exit.Mono - s.started),
			Teardown: time.Duration(end - s.exit.Mono),
		}
	case s.started != 0:
		t = Timings{
			Setup: time.Duration(s.forked - start),
			Spawn: time.Duration(s.started - s.forked),
			Run:   time.Duration(end - s.started),
		}
	default:
		return Timings{Setup: time.Duration(end - start)}
	}
	// The breakdown only when the init's marks are in order (an older
	// init sends none).
	if start <= s.configured && s.configured <= s.mounted && s.mounted <= s.forked {
		t.SetupConfig = time.Duration(s.configured - start)
		t.SetupMounts = time.Duration(s.mounted - s.configured)
		t.SetupFork = time.Duration(s.forked - s.mounted)
	}
	return t
}

func readReports(f *os.File) ([]initproc.Report, error) {
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read sandbox init reports: %w", err)
	}
	reports, err := initproc.ParseReports(b)
	if err != nil {
		return reports, fmt.Errorf("decode sandbox init reports: %w", err)
	}
	return reports, nil
}

// stderrTail returns the end of the stderr file for error messages: a
// crashing init (a Go panic) writes there.
func stderrTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 1024 {
		b = b[len(b)-1024:]
	}
	return ": " + strings.TrimSpace(string(bytes.ToValidUTF8(b, nil)))
}
