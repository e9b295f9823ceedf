//go:build linux

package sandbox

import "golang.org/x/sys/unix"

// monoNow is CLOCK_MONOTONIC in nanoseconds: the clock of the init's
// reports (Mono, Forked), so the daemon and the init can compare times.
func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
