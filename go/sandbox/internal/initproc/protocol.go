package initproc

// The daemon and the sandbox init talk over two pipes: the daemon writes one
// encoded Config to fd ConfigFD and closes it; the init writes a
// sequence of encoded reports (codec.go) to fd ReportFD, each with one
// write, far below PIPE_BUF so that none is torn. The report pipe is
// close-on-exec in the command; the init closes it after its last report,
// once no other process of the action is left, so its EOF ends the action
// while the init itself may still be exiting.
const (
	ConfigFD = 3
	ReportFD = 4
)

// Config is everything the init needs; paths of Mounts are host paths
// except Target.
type Config struct {
	Root   string
	Args   []string
	Env    []string
	Dir    string
	Mounts []Mount
	// Stdout and Stderr are host paths the init opens (without truncating)
	// as the command's fds 1 and 2.
	Stdout, Stderr string
	UID            int
	GID            int
	Rootless       bool
}

// Report kinds, in the order an init sends them.
const (
	// ReportSetup: the sandbox could not be set up (Error says why); the init
	// exits with SetupFailed.
	ReportSetup = "setup"
	// ReportExec: the command could not be executed (Error says why); the
	// init exits with 127.
	ReportExec = "exec"
	// ReportStarted: the command runs; Mono is CLOCK_MONOTONIC at that point
	// (its exec succeeded), Forked just before the init forked it,
	// Configured when it had read its Config and Mounted when it had
	// made the mounts and entered the root.
	ReportStarted = "started"
	// ReportExit: the command ended with ExitCode / Signal; Mono is
	// CLOCK_MONOTONIC when the init reaped it, before the sandbox's teardown.
	ReportExit = "exit"
)

// SetupFailed is the init's exit status after a setup failure.
const SetupFailed = 125

type Report struct {
	Kind       string
	Error      string
	Mono       int64
	Forked     int64
	Configured int64
	Mounted    int64
	ExitCode   int
	Signal     int
}
