package executor

import "time"

// StageDurations is how long an execution spent in each stage; stages not
// reached are zero.
type StageDurations struct {
	Queue  time.Duration // waiting for a job slot
	Input  time.Duration // loading the Command, building the input root
	Setup  time.Duration // sandbox: namespaces, mounts, chroot
	Spawn  time.Duration // sandbox: starting the command
	Run    time.Duration // the command itself
	Output time.Duration // collecting and storing outputs, stdout, stderr
}
