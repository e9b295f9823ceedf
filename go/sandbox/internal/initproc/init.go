//go:build linux

package initproc

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Arg is the hidden first argument that makes our own binary act as the
// sandbox's first process.
const Arg = "--actiond-internal-sandbox-init"

// init runs the sandbox init before the packages initialized after this
// one (see the package documentation).
func init() { MaybeRun() }

// MaybeRun is sandbox.MaybeRunInit: if os.Args[1] is Arg the process is a
// sandbox init: it sets up the sandbox, runs the command, waits for it,
// and exits without returning. Otherwise it returns at once.
func MaybeRun() {
	if len(os.Args) < 2 || os.Args[1] != Arg {
		return
	}
	// Capabilities, no_new_privs and the bounding set are per thread: the
	// thread that drops them must be the one that forks the command.
	runtime.LockOSThread()
	os.Exit(runSandboxInit())
}

// Values of the init's mode argument.
const (
	ModeRoot     = "root"
	ModeRootless = "rootless"
)

// sandboxInit is the state of the sandbox init.
type sandboxInit struct {
	cfg    Config
	report *os.File
	// resetOnFork: the command gets nice 0 from the kernel (setSetupNice).
	resetOnFork bool
	// configured and mounted are MonoNow when readConfig and enterRoot
	// ended, for the daemon's breakdown of the setup time.
	configured, mounted int64
}

// runSandboxInit is the init's whole life; it returns its exit status.
// Its steps, in order:
//
//  1. prepare (prepare.go): what every action gets, done by a
//     pre-started init before its action arrives: private mounts, lo, host
//     name, the skeleton root, dropping capabilities, seccomp;
//  2. readConfig: the action, from the daemon;
//  3. installOutputs: the command's stdout and stderr;
//  4. enterRoot (mounts.go): the action's mounts, chroot and
//     working directory;
//  5. runCommand (exec.go): credentials, fork and exec, reaping,
//     and the last report.
func runSandboxInit() int {
	// Everything the daemon passed beyond stdio is for the init alone.
	_ = unix.CloseRange(ConfigFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	si := &sandboxInit{report: os.NewFile(ReportFD, "report")}
	if len(os.Args) != 4 {
		return si.setupFailed(fmt.Errorf("init arguments %q: want %s ROOT MODE", os.Args[1:], Arg))
	}
	root, rootless := os.Args[2], os.Args[3] == ModeRootless
	if rootless {
		// As PID 1 we only get signals we handle, but the Go runtime handles
		// them all and exits on SIGTERM and the like. In rootless mode the
		// command shares our uid and could thus kill us; catching (and
		// dropping) the signals that would make us exit prevents that.
		// Handlers reset to default on exec. Not done as root (the command
		// cannot signal us) because each signal handler costs a round trip
		// to the runtime's signal thread.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
			syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM, syscall.SIGPIPE, syscall.SIGVTALRM,
			syscall.SIGPROF, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGSTKFLT, syscall.SIGIO, syscall.SIGPWR)
	}
	unix.Umask(0)
	// Setup is short and every action waits for it, so on a busy machine
	// it runs ahead of the commands (and anything else at nice 0). Nice is
	// per thread on Linux, and this locked thread does all of the setup.
	// Without CAP_SYS_NICE (rootless) this fails and setup keeps nice 0.
	si.resetOnFork = setSetupNice()
	if err := prepare(root); err != nil {
		return si.setupFailed(err)
	}
	if err := si.readConfig(); err != nil {
		return si.setupFailed(err)
	}
	si.configured = MonoNow()
	if si.cfg.Root != root || si.cfg.Rootless != rootless {
		return si.setupFailed(fmt.Errorf("config for root %q (rootless %v) sent to an init for %q (rootless %v)", si.cfg.Root, si.cfg.Rootless, root, rootless))
	}
	if err := si.installOutputs(); err != nil {
		return si.setupFailed(err)
	}
	if err := si.enterRoot(); err != nil {
		return si.setupFailed(err)
	}
	si.mounted = MonoNow()
	unix.Umask(0o022)
	return si.runCommand()
}

// setupNice is the init's nice value.
const setupNice = -10

// setSetupNice gives this thread setupNice with SCHED_RESET_ON_FORK, so that
// the command it forks starts at nice 0 while the init keeps setupNice.
// That matters past setup too: the init's fork returns only once its child
// has exec'd, and at equal nice the woken init would wait for the new
// command to be preempted (a scheduler tick) before it could report the
// start, which would make Timings.Spawn a tick rather than the exec's own
// cost. It reports whether the flag is set; if not, the init drops to nice
// 0 itself before the fork.
func setSetupNice() (resetOnFork bool) {
	attr := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Flags: unix.SCHED_FLAG_RESET_ON_FORK, Nice: setupNice}
	if unix.SchedSetAttr(0, &attr, 0) == nil {
		return true
	}
	_ = unix.Setpriority(unix.PRIO_PROCESS, 0, setupNice)
	return false
}

func (si *sandboxInit) send(r Report) {
	_, _ = si.report.Write(r.appendTo(nil))
}

// finish sends the init's last report and closes the report pipe: the
// daemon takes its EOF as the end of the action, without waiting for this
// process to exit (which includes the kernel unmounting everything and
// freeing the namespaces).
func (si *sandboxInit) finish(r Report) {
	si.send(r)
	_ = si.report.Close()
}

func (si *sandboxInit) setupFailed(err error) int {
	si.finish(Report{Kind: ReportSetup, Error: err.Error()})
	return SetupFailed
}

func (si *sandboxInit) readConfig() error {
	f := os.NewFile(ConfigFD, "config")
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := si.cfg.unmarshal(b); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	return nil
}

// installOutputs opens the output files (created by the daemon) as fds 1
// and 2, which the command inherits; init messages go there too.
func (si *sandboxInit) installOutputs() error {
	open := func(path string) (int, error) {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("open output file: %w", err)
		}
		return fd, nil
	}
	out, err := open(si.cfg.Stdout)
	if err != nil {
		return err
	}
	errFD := out
	if si.cfg.Stderr != si.cfg.Stdout {
		if errFD, err = open(si.cfg.Stderr); err != nil {
			return err
		}
	}
	for _, d := range [][2]int{{out, 1}, {errFD, 2}} {
		if err := unix.Dup3(d[0], d[1], 0); err != nil {
			return fmt.Errorf("install output file: %w", err)
		}
	}
	unix.Close(out)
	if errFD != out {
		unix.Close(errFD)
	}
	return nil
}
