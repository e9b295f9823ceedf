package executor

import (
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
)

// ActionOutcome classifies how a request ended, for metrics and the status
// page.
type ActionOutcome string

// The outcomes. Every report has exactly one.
const (
	// OutcomeCached: answered from the action cache.
	OutcomeCached ActionOutcome = "cached"
	// OutcomeSuccess: the command ran and exited 0.
	OutcomeSuccess ActionOutcome = "success"
	// OutcomeNonZeroExit: the command ran and exited non-zero (or was
	// killed by a signal of its own making).
	OutcomeNonZeroExit ActionOutcome = "nonzero_exit"
	// OutcomeTimeout: the command exceeded its timeout.
	OutcomeTimeout ActionOutcome = "timeout"
	// OutcomeCancelled: nobody waited for it any more, CancelOperation, or
	// shutdown.
	OutcomeCancelled ActionOutcome = "cancelled"
	// OutcomeSetupFailure: the command never ran: a bad request, missing
	// inputs, or a sandbox that could not start it.
	OutcomeSetupFailure ActionOutcome = "setup_failure"
	// OutcomeError: the command ran, but its outputs could not be kept
	// (output limits, storage errors).
	OutcomeError ActionOutcome = "error"
)

// Outcomes lists every ActionOutcome, for metrics that start at zero.
var Outcomes = []ActionOutcome{OutcomeCached, OutcomeSuccess, OutcomeNonZeroExit, OutcomeTimeout, OutcomeCancelled, OutcomeSetupFailure, OutcomeError}

// outcomeOf classifies a finished request: ran says the command was
// started, exitCode is its exit code, err the response's error.
func outcomeOf(cached, ran bool, exitCode int32, err error) ActionOutcome {
	switch {
	case cached:
		return OutcomeCached
	case err == nil && exitCode == 0:
		return OutcomeSuccess
	case err == nil:
		return OutcomeNonZeroExit
	}
	switch rpcstatus.Code(err) {
	case codes.DeadlineExceeded:
		if ran {
			return OutcomeTimeout
		}
	case codes.Canceled, codes.Unavailable:
		return OutcomeCancelled
	}
	if !ran {
		return OutcomeSetupFailure
	}
	return OutcomeError
}
