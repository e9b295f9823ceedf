//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/actiond/actiond/go/sandbox/internal/initproc"
)

// This file and the other runner_*.go files run in the daemon: they start
// sandbox inits and wait for them. Package internal/initproc runs in the
// init, the sandbox's first process.

// ErrInvalidSpec is wrapped by Run errors caused by a malformed Spec.
var ErrInvalidSpec = errors.New("invalid sandbox spec")

// Options configure a Runner.
type Options struct {
	// Rootless runs every action in a new user namespace that maps the
	// daemon's uid and gid to 65534 (see the package doc). It is forced on
	// when the daemon is not root. Actions still run as 65534 without
	// capabilities; every file they did not create appears owned by
	// 65534, and Spec.UID/GID are ignored.
	Rootless bool
	// CgroupRoot is a delegated cgroup v2 directory for per-action groups.
	// Empty means <cgroup2 mount>/actiond as root, and in rootless mode a
	// group beside the daemon in its own cgroup when that is delegated to
	// its user (the daemon then moves itself into a leaf group).
	CgroupRoot string
	// Prestart is how many inits wait, already started and in their
	// namespaces, for the next actions: this takes the init's Go runtime
	// start and the namespace creation off each action's critical path,
	// with the tmpfs skeleton, lo and the privilege drop.
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
	// allCaps lists every capability the kernel knows; a rootless init
	// gets them as ambient capabilities (see startInit).
	allCaps []uintptr
	cgroups *cgroupParent // nil: limits are not enforced

	pool     chan *initHandle // pre-started inits; nil when disabled
	mu       sync.Mutex
	closed   bool
	spawning int // refills in flight
	// generation counts Refresh calls; an init started before the last
	// one is discarded.
	generation int
	// wg counts the pool's refills and the inits still exiting after
	// their action was over; Close waits for them.
	wg sync.WaitGroup
}

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
	if r.rootless {
		if r.allCaps, err = knownCapabilities(); err != nil {
			r.devNull.Close()
			return nil, err
		}
	}
	cg, err := setupCgroupParent(opts.CgroupRoot, r.rootless)
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
			r.pool = make(chan *initHandle, n)
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
	start := initproc.MonoNow()
	cfg, err := initConfigFor(spec, r.rootDir, r.rootless)
	if err != nil {
		return Result{}, err
	}
	outputs, err := createOutputFiles(spec.Stdout, spec.Stderr)
	if err != nil {
		return Result{}, err
	}
	defer outputs.close()
	cg, err := r.newActionCgroup(spec.Limits)
	if err != nil {
		return Result{}, err
	}
	init, err := r.launchInit(cg, cfg.Marshal())
	if err != nil {
		r.removeCgroup(cg)
		return Result{}, err
	}
	end, initGone := waitForAction(ctx, init, spec, outputs, start)
	// Read before the group can go: its event counters go with it.
	hits := cg.limitHits()
	// A group with a process left cannot be removed: wait for the init.
	r.whenGone(initGone, func() { r.removeCgroup(cg) })
	if spec.MaxOutputBytes > 0 && outputs.capTo(spec.MaxOutputBytes) {
		end.outputTooLarge = true
	}
	res, err := actionResult(end)
	res.MemoryLimitHit, res.PidsLimitHit = hits.memory, hits.pids
	if errors.Is(err, errNoResult) {
		err = fmt.Errorf("%w%s", err, stderrTail(spec.Stderr))
	}
	return res, err
}

// launchInit returns an init that has the config: a pre-started one when
// there is one and the action needs no cgroup, else a new one, started in
// cg when cg is not nil.
func (r *Runner) launchInit(cg *actionCgroup, config []byte) (*initHandle, error) {
	if cg != nil {
		return r.startInit(cg.fd, config)
	}
	if h := r.takePrestarted(config); h != nil {
		return h, nil
	}
	return r.startInit(-1, config)
}

// whenGone calls f once gone is closed: now if it already is, else in the
// background, which Close waits for.
func (r *Runner) whenGone(gone <-chan struct{}, f func()) {
	select {
	case <-gone:
		f()
		return
	default:
	}
	// Close may only be called once every Run returned, so this Add
	// cannot race with its Wait.
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		<-gone
		f()
	}()
}
