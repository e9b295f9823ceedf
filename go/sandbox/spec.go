package sandbox

import (
	"syscall"
	"time"

	"github.com/actiond/actiond/go/sandbox/internal/initproc"
)

// MountKind says how a Mount is made: Bind, Overlay or Tmpfs.
type MountKind = initproc.MountKind

// The mount kinds; initproc documents each.
const (
	Bind    = initproc.Bind
	Overlay = initproc.Overlay
	Tmpfs   = initproc.Tmpfs
)

// Mount is one mount made inside the sandbox root (its fields are
// documented on initproc.Mount, the type the init receives). Host paths
// (Source, Lower, Upper, Work) must be absolute; Target is an absolute path
// inside the sandbox. Missing target directories are created; a bind of a
// file gets an empty file created as its mount point. Every mount is
// nosuid and nodev (except a bind of a device node, which keeps dev).
type Mount = initproc.Mount

// Limits are resource limits for the whole action (every process in it).
// Zero means unlimited. They are enforced with cgroup v2 when the Runner found
// the controllers; otherwise they are ignored (logged once by NewRunner).
type Limits struct {
	MemoryBytes int64
	// CPUMillis is CPU bandwidth in thousandths of a CPU (1000 = one core).
	CPUMillis int64
	Pids      int64
}

// Spec describes one command to run in a sandbox.
type Spec struct {
	Args []string
	// Env is the complete environment of the command. PATH in it (default
	// /usr/local/bin:/usr/bin:/bin) is used to find Args[0] when it has no
	// slash; an empty PATH entry means Dir.
	Env []string
	// Dir is the working directory inside the sandbox (absolute).
	Dir string
	// Mounts are applied in order onto a fresh tmpfs root that already holds
	// /dev/{null,zero,random,urandom}, /dev/fd, /dev/shm, /proc, /tmp (1777)
	// and, unless a mount targets /etc, a minimal /etc (passwd, group, hosts).
	Mounts []Mount
	// Stdout and Stderr are host files created (truncated) for the command's
	// output. They may be the same path. Stdin is /dev/null.
	Stdout, Stderr string
	// MaxOutputBytes caps each of stdout and stderr; 0 means no cap. Going
	// over kills the action and sets Result.OutputTooLarge; the file is then
	// truncated to the cap.
	MaxOutputBytes int64
	// Timeout kills the action after this long; 0 means none.
	Timeout time.Duration
	Limits  Limits
	// UID and GID the command runs as; 0 means 65534 (nobody/nogroup).
	// Supplementary groups are always empty. Ignored in rootless mode, where
	// the command runs as uid/gid 0 of its user namespace.
	UID, GID int
}

// Result is what happened to the command.
type Result struct {
	// ExitCode is the exit status, 128+N when killed by signal N (also when
	// the sandbox killed it for a timeout or too much output), and 127 when
	// the command could not be executed (a message is then in the stderr
	// file).
	ExitCode int
	// Signal is the signal that killed the command, or 0.
	Signal syscall.Signal
	// TimedOut is set when Spec.Timeout killed the action.
	TimedOut bool
	// OutputTooLarge is set when stdout or stderr went over MaxOutputBytes.
	OutputTooLarge bool
	// MemoryLimitHit is set when the kernel's OOM killer killed a process
	// of the action because of Limits.MemoryBytes, and PidsLimitHit when a
	// fork or thread creation failed at Limits.Pids. Both are known only
	// where the limit is enforced (cgroup v2).
	MemoryLimitHit bool
	PidsLimitHit   bool
	// ExecError is the sandbox's message when it could not execute the
	// command (ExitCode is then 127; the message is in the stderr file too).
	ExecError string
	Timings   Timings
}

// Timings are measured durations of one Run.
type Timings struct {
	// Setup is from the start of Run until the init forked the command
	// (namespaces, mounts, privilege drop): the sum of SetupConfig,
	// SetupMounts and SetupFork when the command started.
	Setup time.Duration
	// SetupConfig is from the start of Run until the init had read its
	// configuration: validating the Spec, taking (or starting) an init,
	// sending the configuration and the init waking up to read it.
	SetupConfig time.Duration
	// SetupMounts is the init opening the stdio files, making the
	// action's mounts and entering its root.
	SetupMounts time.Duration
	// SetupFork is the rest until the fork: finding the program and
	// setting the command's credentials.
	SetupFork time.Duration
	// Spawn is the command's fork and exec, until its exec succeeded: the
	// kernel loading the program, which costs as much outside a sandbox
	// (BenchmarkPlainExec measures it there).
	Spawn time.Duration
	// Run is from the start of the command (its exec) until it exited.
	Run time.Duration
	// Prestarted tells whether the action got a pre-started init (see
	// Options.Prestart); without one, Setup includes starting the init.
	Prestarted bool
	// Teardown is from the command's exit until Run had the init's last
	// report: killing and reaping what the command left behind. The
	// kernel's unmounting and freeing of the namespaces follow in the
	// background, untimed.
	Teardown time.Duration
}
