package vm

import (
	"fmt"
	"strings"
)

// guestStepPrefix begins the line the guest's PID 1 prints on the console
// when a boot step or its daemon failed, just before it powers off (see
// go/guest's StepError): "actiond guest: <step>: <cause>".
const guestStepPrefix = "actiond guest: "

// GuestError is a guest that stopped and said why on its console: the
// failed step and its cause, from the "actiond guest: <step>: <cause>"
// line. Callers that know which flag feeds a step (the CAS disk is
// --cas-image) can say so; errors.As finds it.
type GuestError struct {
	// When is "before answering" or "while serving".
	When string
	// Step is the guest's step ("cas", "runtimes", "daemon", ...), Cause
	// what it said about it.
	Step, Cause string
	// Tail is the console's last lines.
	Tail []string
}

func (e *GuestError) Error() string {
	return fmt.Sprintf("the guest failed %s: %s: %s; %s", e.When, e.Step, e.Cause, FormatTail("the guest console", e.Tail))
}

// guestStepFailure finds the guest's first step line in tail: when the
// daemon fails it prints its own line, and PID 1 then adds a general one
// ("daemon: the daemon exited with status 1").
func guestStepFailure(tail []string) (step, cause string, ok bool) {
	for i := range tail {
		// The guest's logger may have left a partial line on the console
		// before it: take the line from the prefix on.
		j := strings.Index(tail[i], guestStepPrefix)
		if j < 0 {
			continue
		}
		step, cause, ok = strings.Cut(tail[i][j+len(guestStepPrefix):], ": ")
		if ok {
			return step, cause, true
		}
	}
	return "", "", false
}

// kernelHints maps what the guest kernel prints when it cannot go on to
// the fix. The first match in the console's last lines wins, in this
// order: an initramfs that failed to unpack also fails to mount a root.
var kernelHints = []struct{ marker, hint string }{
	{"Initramfs unpacking failed", "the kernel could not unpack the initramfs: rebuild --initramfs with vm/build_initramfs.sh"},
	{"No working init found", "the kernel could not run the initramfs's /init: rebuild --initramfs with vm/build_initramfs.sh for this --arch"},
	{"Unable to mount root fs", "the kernel found no initramfs to run: rebuild --initramfs with vm/build_initramfs.sh"},
	{"Out of memory", "the guest ran out of memory: raise --memory-mib"},
	{"System is deadlocked on memory", "the guest ran out of memory: raise --memory-mib"},
	{"Attempted to kill init", "the guest's /init died: read the console lines below"},
	{"Kernel panic", "the guest kernel panicked: read the console lines below"},
}

// kernelHint explains a kernel that gave up, from the console's last
// lines, or returns "".
func kernelHint(tail []string) string {
	for _, h := range kernelHints {
		for _, l := range tail {
			if strings.Contains(l, h.marker) {
				return h.hint
			}
		}
	}
	return ""
}

// exitError explains a VM that exited (why: Machine.Wait's error) before
// the guest answered or while serving, from the console's last lines: the
// guest's own step line when it printed one, else what the kernel said.
func exitError(serving bool, why error, tail []string) error {
	when, vmWhen := "before answering", "before the guest answered"
	if serving {
		when, vmWhen = "while serving", "while serving"
	}
	if step, cause, ok := guestStepFailure(tail); ok {
		return &GuestError{When: when, Step: step, Cause: cause, Tail: tail}
	}
	reason := exitReason(why)
	if hint := kernelHint(tail); hint != "" {
		reason += "; " + hint
	}
	return fmt.Errorf("the VM exited %s (%s); %s", vmWhen, reason, FormatTail("the guest console", tail))
}
