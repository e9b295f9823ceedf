//go:build linux

package initproc

import "golang.org/x/sys/unix"

// MonoNow is CLOCK_MONOTONIC in nanoseconds: the clock of the init's
// reports (Mono, Forked), so the daemon and the init can compare times.
func MonoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
