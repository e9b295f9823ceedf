//go:build linux

package sandbox

import (
	"context"
	"os"
	"time"

	"github.com/actiond/actiond/go/sandbox/internal/initproc"
)

// waitForAction waits until the action of init is over (see actionOver),
// killing the init when ctx ends, spec.Timeout passes or an output file
// grows over spec.MaxOutputBytes. start is when Run began (initproc.MonoNow). It
// returns what the action's result is made of, and a channel closed once
// the init is reaped, which may come later: the init's own exit, in which
// the kernel unmounts everything and frees the namespaces, is not part of
// the action.
func waitForAction(ctx context.Context, init *initHandle, spec Spec, outputs *outputFiles, start int64) (actionEnd, <-chan struct{}) {
	gone := make(chan struct{})
	var state *os.ProcessState
	var waitErr error
	go func() {
		state, waitErr = init.proc.Wait()
		close(gone)
	}()
	type reportsRead struct {
		reports []initproc.Report
		err     error
	}
	reported := make(chan reportsRead, 1)
	go func() {
		reports, err := readReports(init.reportR)
		init.reportR.Close()
		reported <- reportsRead{reports, err}
	}()
	var timeout <-chan time.Time
	if spec.Timeout > 0 {
		t := time.NewTimer(spec.Timeout - time.Duration(initproc.MonoNow()-start))
		defer t.Stop()
		timeout = t.C
	}
	var poll <-chan time.Time
	if spec.MaxOutputBytes > 0 {
		t := time.NewTicker(outputPollInterval)
		defer t.Stop()
		poll = t.C
	}

	e := actionEnd{start: start, prestarted: init.prestarted}
	done := ctx.Done()
	kill := func() {
		_ = init.proc.Kill() // the kernel kills the rest of the pid namespace
		done, timeout, poll = nil, nil, nil
	}
	// A channel is set to nil once it delivered.
	var rr reportsRead
	goneCh := (<-chan struct{})(gone)
	for !actionOver(reported == nil, goneCh == nil, rr.reports) {
		select {
		case rr = <-reported:
			reported = nil
		case <-goneCh:
			goneCh = nil
		case <-done:
			e.ctxErr = ctx.Err()
			kill()
		case <-timeout:
			e.timedOut = true
			kill()
		case <-poll:
			if outputs.over(spec.MaxOutputBytes) {
				e.outputTooLarge = true
				kill()
			}
		}
	}
	e.end = initproc.MonoNow()
	e.reports, e.reportsErr = rr.reports, rr.err
	if goneCh == nil {
		e.initGone, e.initState, e.initWaitErr = true, state, waitErr
	}
	return e, gone
}

// actionOver reports whether the action is over: the init's reports are
// read (its report pipe is closed) and either the init is gone or its last
// report says the command ended or could not start, which it sends only
// once no other process of the action is left.
func actionOver(reportsRead, initGone bool, reports []initproc.Report) bool {
	return reportsRead && (initGone || endsAction(reports))
}

// endsAction reports whether reports hold one the init sends only once no
// process of the action but itself is left: the command's exit (after the
// init killed and reaped everything else) or its failure to start.
func endsAction(reports []initproc.Report) bool {
	for _, r := range reports {
		if r.Kind == initproc.ReportExit || r.Kind == initproc.ReportExec {
			return true
		}
	}
	return false
}
