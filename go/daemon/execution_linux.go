//go:build linux

package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/execroot"
	"github.com/actiond/actiond/go/executor"
	"github.com/actiond/actiond/go/progress"
	"github.com/actiond/actiond/go/reapi"
	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/sandbox"
)

// startExecution builds the sandbox runner, the input-root builder, the
// runtime catalog and the executor, and registers the Execution service.
func (d *Daemon) startExecution(ctx context.Context) error {
	roots, err := execroot.New(ctx, execroot.Options{
		Store:   d.store,
		WorkDir: filepath.Join(d.cfg.Root, "execroot"),
		Logger:  d.logger,
	})
	if err != nil {
		return fmt.Errorf("daemon: execroot: %w", err)
	}
	d.closers = append(d.closers, roots.Close)

	// The runtime images are mounted before the runner pre-starts its
	// inits, whose copies of the mount namespace must hold them.
	rootless := os.Geteuid() != 0
	catalog, err := d.openRuntimes(ctx, rootless)
	if err != nil {
		return err
	}
	// One pre-started init per job keeps clone() of this large process off
	// the critical path of every action that runs at once.
	runner, err := sandbox.NewRunner(d.logger, sandbox.Options{Rootless: rootless, Prestart: max(d.cfg.Jobs, 2)})
	if err != nil {
		return fmt.Errorf("daemon: sandbox: %w", err)
	}
	d.closers = append(d.closers, runner.Close)
	if runner.Rootless() {
		d.logger.InfoContext(ctx, "rootless mode: actions run in a user namespace as its uid 0, runtime images are unpacked instead of mounted")
	}

	opts := executor.Options{
		Store:             d.store,
		Cache:             d.cache,
		Roots:             executor.ExecRoots(roots),
		Runner:            runner,
		Jobs:              d.cfg.Jobs,
		DefaultTimeout:    d.cfg.DefaultTimeout,
		AllowedProperties: d.cfg.AllowedProperties,
		Logger:            d.logger,
		Observer:          executor.Observers{d.tracker, d.metrics},
	}
	if catalog != nil {
		opts.Runtimes = catalog
		d.summary.Libcs, d.summary.Rootfs, d.summary.Bash = catalog.Names(), catalog.RootfsNames(), catalog.HasShell()
	}
	d.summary.Rootless = runner.Rootless()
	d.summary.MemoryLimits, d.summary.CPULimits, d.summary.PidsLimits = runner.EnforcesLimits()
	exec, err := executor.New(opts)
	if err != nil {
		return fmt.Errorf("daemon: executor: %w", err)
	}
	d.closers = append(d.closers, exec.Close)
	reapi.NewExecutionServer(exec, d.logger).Register(d.grpc)
	reapi.NewOperationsServer(exec).Register(d.grpc)
	return nil
}

// openRuntimes makes the runtime image readable and catalogs it: as root the
// image is loop-mounted read-only and private under the root directory; in
// rootless mode it is unpacked there once (per image content).
func (d *Daemon) openRuntimes(ctx context.Context, rootless bool) (*runtimes.Catalog, error) {
	dir := d.cfg.RuntimeDir
	if image := d.cfg.RuntimeImage; image != "" {
		if _, err := os.Stat(image); err != nil {
			return nil, fmt.Errorf("daemon: runtime image: %w", err)
		}
		if rootless {
			dir = filepath.Join(d.cfg.Root, "runtimes", "unpacked")
			if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
				return nil, err
			}
			pr := progress.New(d.cfg.Progress, progress.Options{Label: "unpacking the runtime image", Noun: "entries"})
			err := runtimes.UnpackImage(ctx, image, dir, pr.ItemsFunc())
			pr.Finish(err)
			if err != nil {
				return nil, fmt.Errorf("daemon: unpacking runtime image %s: %w", image, err)
			}
		} else {
			dir = filepath.Join(d.cfg.Root, "runtimes", "mnt")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			// A crashed earlier run may have left its mount behind.
			for unix.Unmount(dir, unix.MNT_DETACH) == nil {
			}
			unmount, err := runtimes.MountImage(ctx, image, dir)
			if err != nil {
				return nil, fmt.Errorf("daemon: mounting runtime image: %w", err)
			}
			d.closers = append(d.closers, unmount)
		}
	}
	if dir == "" {
		d.logger.InfoContext(ctx, "no runtime image: actions asking for libc, runtime or requires-bash will be refused")
		return nil, nil
	}
	catalog, err := runtimes.Open(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("daemon: runtime image: %w", err)
	}
	if len(catalog.Names()) == 0 && !catalog.HasShell() && len(catalog.RootfsNames()) == 0 {
		return nil, errors.New("daemon: the runtime image holds no runtime for this architecture")
	}
	d.logger.InfoContext(ctx, "runtimes", slog.Any("libc", catalog.Names()), slog.Bool("bash", catalog.HasShell()), slog.Any("rootfs", catalog.RootfsNames()))
	return catalog, nil
}
