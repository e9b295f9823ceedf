package executor

import (
	"syscall"
	"time"
)

// These mirror go/sandbox and go/runtime field for field, so that the
// adapters are plain conversions and the executor's unit tests need neither
// root nor the real packages.

// MountKind says how a Mount is made.
type MountKind int

// Bind is a bind mount of Source onto Target.
const Bind MountKind = iota

// Mount is one mount inside the sandbox.
type Mount struct {
	Kind     MountKind
	Source   string
	Target   string
	ReadOnly bool
}

// Limits are cgroup limits; zero means no limit.
type Limits struct {
	MemoryBytes int64
	CPUMillis   int64
	Pids        int64
}

// Spec is what the sandbox runs.
type Spec struct {
	Args           []string
	Env            []string
	Dir            string
	Mounts         []Mount
	Stdout, Stderr string
	MaxOutputBytes int64
	Timeout        time.Duration
	Limits         Limits
	UID, GID       int
}

// Timings splits a run into sandbox setup and the command itself.
type Timings struct {
	Setup, Run time.Duration
}

// Result is how a sandboxed command ended.
type Result struct {
	ExitCode       int
	Signal         syscall.Signal
	TimedOut       bool
	OutputTooLarge bool
	Timings        Timings
}

// RuntimeMount is a runtime tree to bind read-only at Target.
type RuntimeMount struct {
	Source, Target string
}
