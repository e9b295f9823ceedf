//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrInvalidSpec is wrapped by Run errors caused by a malformed Spec.
var ErrInvalidSpec = errors.New("invalid sandbox spec")

// Options configure a Runner.
type Options struct {
	// Rootless runs every action in a new user namespace that maps the
	// daemon's uid and gid to 0. It is forced on when the daemon is not
	// root. Actions then run as uid/gid 0 of that namespace (still without
	// capabilities): they see host files of other users as owned by
	// nobody, and Spec.UID/GID are ignored.
	Rootless bool
	// CgroupRoot is a delegated cgroup v2 directory for per-action groups.
	// Empty means <cgroup2 mount>/actiond (root only).
	CgroupRoot string
	// Prestart is how many inits wait, already started and in their
	// namespaces, for the next actions: this takes the init's Go runtime
	// start and the namespace creation (several ms) off each action's
	// critical path, with the tmpfs skeleton, lo and the privilege drop.
	// 0 means 2; negative disables. Root mode only (a rootless init needs
	// its user namespace made by the daemon's own uid and gets no benefit
	// from waiting). A pre-started init has a copy of the daemon's mount
	// namespace from when it started: call Refresh after mounting anything
	// actions use on the host. Actions with enforced Limits also start a
	// fresh init (in their cgroup).
	Prestart int
}

// Runner runs commands in sandboxes. It is safe for concurrent use.
type Runner struct {
	logger   *slog.Logger
	rootless bool
	// rootDir is an empty host directory each init mounts its tmpfs root
	// on, inside its private mount namespace.
	rootDir string
	devNull *os.File
	cgroups *cgroupParent // nil: limits are not enforced

	pool     chan *initProc // pre-started inits; nil when disabled
	mu       sync.Mutex
	closed   bool
	spawning int // refills in flight
	// generation counts Refresh calls; an init started before the last
	// one is discarded.
	generation int
	wg         sync.WaitGroup
}

// outputPollInterval is how often Run checks the output file sizes against
// Spec.MaxOutputBytes. A writer can go over the cap by what it writes in
// this time (tens of MB at disk speed); the files are truncated afterwards.
const outputPollInterval = 10 * time.Millisecond

// initExe is how the daemon re-executes itself as the sandbox init.
const initExe = "/proc/self/exe"

// NewRunner prepares a Runner: it detects rootless mode and the cgroup v2
// controllers once, and logs once when limits cannot be enforced.
func NewRunner(logger *slog.Logger, opts Options) (*Runner, error) {
	r := &Runner{logger: logger, rootless: opts.Rootless || os.Geteuid() != 0}
	var err error
	if r.devNull, err = os.Open(os.DevNull); err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	if r.rootDir, err = os.MkdirTemp("", "actiond-sandbox-root-"); err != nil {
		r.devNull.Close()
		return nil, fmt.Errorf("create sandbox root mount point: %w", err)
	}
	cg, err := setupCgroupParent(opts.CgroupRoot)
	if err != nil {
		logger.Warn("cgroup v2 unavailable: memory, cpu and pids limits will not be enforced; action processes are still confined and killed through their pid namespace",
			slog.String("error", err.Error()))
	} else if missing := cg.missing(); len(missing) > 0 {
		logger.Warn("cgroup v2 controllers missing: these limits will not be enforced; action processes are still confined and killed through their pid namespace",
			slog.String("cgroup", cg.dir), slog.Any("missing_controllers", missing))
	}
	if err == nil && len(cg.controllers) > 0 {
		r.cgroups = cg
	}
	if !r.rootless {
		n := opts.Prestart
		if n == 0 {
			n = 2
		}
		if n > 0 {
			r.pool = make(chan *initProc, n)
			for i := 0; i < n; i++ {
				r.refill()
			}
		}
	}
	logger.Info("sandbox runner ready", slog.Bool("rootless", r.rootless), slog.String("root_mount_point", r.rootDir),
		slog.Bool("limits_enforced", r.cgroups != nil))
	return r, nil
}

// Rootless reports whether actions run in a user namespace (see
// Options.Rootless).
func (r *Runner) Rootless() bool { return r.rootless }

// EnforcesLimits reports which fields of Limits are enforced (through the
// cgroup v2 memory, cpu and pids controllers).
func (r *Runner) EnforcesLimits() (memory, cpu, pids bool) {
	if r.cgroups == nil {
		return false, false, false
	}
	c := r.cgroups.controllers
	return c["memory"], c["cpu"], c["pids"]
}

// Close releases the Runner's resources and stops the pre-started inits.
// Runs must have returned.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	for r.pool != nil && len(r.pool) > 0 {
		(<-r.pool).discard()
	}
	err := os.Remove(r.rootDir)
	if cerr := r.devNull.Close(); err == nil {
		err = cerr
	}
	return err
}

// Run runs spec.Args in a new sandbox and waits for it, including every
// process it started. The error is non-nil when the sandbox could not be set
// up (or spec is invalid, ErrInvalidSpec), or ctx's error when ctx ended the
// run, after every process of the action is gone. A command that cannot be
// executed is not an error: ExitCode 127 with a message in the stderr file.
func (r *Runner) Run(ctx context.Context, spec Spec) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	start := monoNow()
	cfg, err := r.config(spec)
	if err != nil {
		return Result{}, err
	}
	stdout, stderr, err := openOutputs(spec.Stdout, spec.Stderr)
	if err != nil {
		return Result{}, err
	}
	defer stdout.Close()
	defer stderr.Close()

	var cg *actionCgroup
	if r.cgroups.enforces(spec.Limits) {
		if cg, err = r.cgroups.create(spec.Limits); err != nil {
			return Result{}, err
		}
	}
	// removeCgroup runs once the init is gone: a group with a process
	// left cannot be removed.
	removeCgroup := func() {
		if cg == nil {
			return
		}
		if err := cg.remove(); err != nil {
			r.logger.Warn("cannot remove action cgroup", slog.String("error", err.Error()))
		}
	}

	cfgBytes := cfg.marshal()
	var init *initProc
	if cg == nil {
		init = r.takePrestarted(cfgBytes)
	}
	prestarted := init != nil
	if init == nil {
		cgroupFD := -1
		if cg != nil {
			cgroupFD = cg.fd
		}
		if init, err = r.startInit(cgroupFD, cfgBytes); err != nil {
			removeCgroup()
			return Result{}, err
		}
	}
	proc := init.proc

	gone := make(chan struct{}) // closed once the init is reaped
	var state *os.ProcessState
	var waitErr error
	go func() {
		state, waitErr = proc.Wait()
		close(gone)
	}()
	type reportsRead struct {
		reports []initReport
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
		t := time.NewTimer(spec.Timeout - time.Duration(monoNow()-start))
		defer t.Stop()
		timeout = t.C
	}
	var poll <-chan time.Time
	if spec.MaxOutputBytes > 0 {
		t := time.NewTicker(outputPollInterval)
		defer t.Stop()
		poll = t.C
	}
	var res Result
	var ctxErr error
	done := ctx.Done()
	kill := func() {
		_ = proc.Kill() // the kernel kills the rest of the pid namespace
		done, timeout, poll = nil, nil, nil
	}
	// The action is over when the init's last report says the command
	// ended (or could not start) and nothing else of it is left, or else
	// when the init is gone. In the first case the init's own exit, in
	// which the kernel unmounts everything and frees the namespaces,
	// finishes in the background.
	// A channel is set to nil once it delivered.
	var rr reportsRead
	goneCh := (<-chan struct{})(gone)
wait:
	for {
		select {
		case rr = <-reported:
			reported = nil
			if goneCh == nil || endsAction(rr.reports) {
				break wait
			}
		case <-goneCh:
			goneCh = nil
			if reported == nil {
				break wait
			}
		case <-done:
			ctxErr = ctx.Err()
			kill()
		case <-timeout:
			res.TimedOut = true
			kill()
		case <-poll:
			if outputTooLarge(spec.MaxOutputBytes, stdout, stderr) {
				res.OutputTooLarge = true
				kill()
			}
		}
	}
	end := monoNow()
	if goneCh == nil { // the init is gone
		removeCgroup()
		if waitErr != nil {
			return Result{}, fmt.Errorf("wait for sandbox init: %w", waitErr)
		}
	} else {
		// Close waits for this; it may only be called once every Run
		// returned, so the Add cannot race with its Wait.
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			<-gone
			removeCgroup()
		}()
	}
	if spec.MaxOutputBytes > 0 && capOutputs(spec.MaxOutputBytes, stdout, stderr) {
		res.OutputTooLarge = true
	}
	if rr.err != nil {
		return Result{}, rr.err
	}

	started, forked := int64(0), int64(0)
	var exit, setupFailure, execFailure *initReport
	for i := range rr.reports {
		switch rep := &rr.reports[i]; rep.Kind {
		case reportStarted:
			started, forked = rep.Mono, rep.Forked
		case reportExit:
			exit = rep
		case reportSetup:
			setupFailure = rep
		case reportExec:
			execFailure = rep
		}
	}
	switch {
	case started != 0 && exit != nil && exit.Mono >= started && exit.Mono <= end:
		res.Timings = Timings{
			Setup:    time.Duration(forked - start),
			Spawn:    time.Duration(started - forked),
			Run:      time.Duration(exit.Mono - started),
			Teardown: time.Duration(end - exit.Mono),
		}
	case started != 0:
		// Killed: the command's end is the sandbox's.
		res.Timings = Timings{Setup: time.Duration(forked - start), Spawn: time.Duration(started - forked), Run: time.Duration(end - started)}
	default:
		res.Timings = Timings{Setup: time.Duration(end - start)}
	}
	res.Timings.Prestarted = prestarted
	killed := ctxErr != nil || res.TimedOut || res.OutputTooLarge
	switch {
	case setupFailure != nil && !killed:
		return res, fmt.Errorf("sandbox setup failed: %s", setupFailure.Error)
	case exit != nil:
		res.ExitCode, res.Signal = exit.ExitCode, syscall.Signal(exit.Signal)
	case execFailure != nil:
		res.ExitCode = 127
	case killed:
		res.ExitCode, res.Signal = 128+int(syscall.SIGKILL), syscall.SIGKILL
	default:
		return res, fmt.Errorf("sandbox init ended (%v) without reporting a result%s", state, stderrTail(spec.Stderr))
	}
	return res, ctxErr
}

// endsAction reports whether reports hold one the init sends only once no
// process of the action but itself is left: the command's exit (after the
// init killed and reaped everything else) or its failure to start.
func endsAction(reports []initReport) bool {
	for _, r := range reports {
		if r.Kind == reportExit || r.Kind == reportExec {
			return true
		}
	}
	return false
}

// config validates spec and turns it into the init's configuration.
func (r *Runner) config(spec Spec) (initConfig, error) {
	invalid := func(format string, args ...any) (initConfig, error) {
		return initConfig{}, fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return invalid("no command")
	}
	if spec.Stdout == "" || spec.Stderr == "" {
		return invalid("stdout and stderr files are required")
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if !isCleanAbs(dir) {
		return invalid("working directory %q is not a clean absolute path", dir)
	}
	for _, m := range spec.Mounts {
		if !isCleanAbs(m.Target) || m.Target == "/" {
			return invalid("mount target %q is not a clean absolute path below /", m.Target)
		}
		switch m.Kind {
		case Bind:
			if !path.IsAbs(m.Source) {
				return invalid("bind source %q is not absolute", m.Source)
			}
		case Overlay:
			if len(m.Lower) == 0 {
				return invalid("overlay on %s has no lower directory", m.Target)
			}
			if (m.Upper == "") != (m.Work == "") {
				return invalid("overlay on %s needs both upper and work directories or neither", m.Target)
			}
			for _, d := range append(append([]string{}, m.Lower...), m.Upper, m.Work) {
				if d != "" && !path.IsAbs(d) {
					return invalid("overlay directory %q is not absolute", d)
				}
			}
		case Tmpfs:
		default:
			return invalid("mount on %s has unknown kind %d", m.Target, m.Kind)
		}
	}
	uid, gid := spec.UID, spec.GID
	if uid == 0 {
		uid = 65534
	}
	if gid == 0 {
		gid = 65534
	}
	return initConfig{
		Root: r.rootDir, Args: spec.Args, Env: spec.Env, Dir: dir, Mounts: spec.Mounts,
		Stdout: spec.Stdout, Stderr: spec.Stderr, UID: uid, GID: gid, Rootless: r.rootless,
	}, nil
}

func isCleanAbs(p string) bool { return path.IsAbs(p) && path.Clean(p) == p }

// openOutputs creates (truncates) the output files; Run keeps them open to
// watch their sizes, the init opens them again for the command.
func openOutputs(stdoutPath, stderrPath string) (stdout, stderr *os.File, err error) {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if stdout, err = os.OpenFile(stdoutPath, flags, 0o644); err != nil {
		return nil, nil, fmt.Errorf("create stdout file: %w", err)
	}
	if stderrPath == stdoutPath {
		// Share one descriptor (and offset) so the streams interleave
		// instead of overwriting each other.
		dup, err := unix.Dup(int(stdout.Fd()))
		if err != nil {
			stdout.Close()
			return nil, nil, fmt.Errorf("duplicate stdout descriptor: %w", err)
		}
		unix.CloseOnExec(dup)
		return stdout, os.NewFile(uintptr(dup), stderrPath), nil
	}
	if stderr, err = os.OpenFile(stderrPath, flags, 0o644); err != nil {
		stdout.Close()
		return nil, nil, fmt.Errorf("create stderr file: %w", err)
	}
	return stdout, stderr, nil
}

func unixFcntl(f *os.File, cmd, arg int) (int, error) {
	return unix.FcntlInt(f.Fd(), cmd, arg)
}

func fileSize(f *os.File) int64 {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return 0
	}
	return st.Size
}

func outputTooLarge(limit int64, files ...*os.File) bool {
	for _, f := range files {
		if fileSize(f) > limit {
			return true
		}
	}
	return false
}

// capOutputs truncates files over limit to it and reports whether any was.
func capOutputs(limit int64, files ...*os.File) bool {
	over := false
	for _, f := range files {
		if fileSize(f) > limit {
			over = true
			_ = f.Truncate(limit)
		}
	}
	return over
}

func readReports(f *os.File) ([]initReport, error) {
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read sandbox init reports: %w", err)
	}
	reports, err := parseReports(b)
	if err != nil {
		return reports, fmt.Errorf("decode sandbox init reports: %w", err)
	}
	return reports, nil
}

// stderrTail returns the end of the stderr file for error messages: a
// crashing init (a Go panic) writes there.
func stderrTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 1024 {
		b = b[len(b)-1024:]
	}
	return ": " + strings.TrimSpace(string(bytes.ToValidUTF8(b, nil)))
}

func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
