package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/progress"
	"github.com/actiond/actiond/go/statuspage"
	"github.com/actiond/actiond/go/statusrpc"
)

// ServeConfig is what Serve drives.
type ServeConfig struct {
	// Machine is the VM, not started yet.
	Machine Machine
	// NewSession starts the channel session on the machine's channel.
	NewSession NewSessionFunc
	// Listen opens the client listener; it is called once the guest
	// answers, so that clients never reach a VM that is not ready.
	Listen func() (net.Listener, error)
	// Console is the guest console whose last lines explain failures.
	Console *Console
	// StartTimeout bounds boot to readiness.
	StartTimeout time.Duration
	// ShutdownGrace is how long the guest gets to power off after a stop
	// request before the VM is forced down.
	ShutdownGrace time.Duration
	Logger        *slog.Logger
	// StatusListen, when set, opens the loopback listener on which the
	// host serves the guest's status page and metrics
	// (statuspage.Handler), read through the channel.
	StatusListen func() (net.Listener, error)
	// Banner, when set, gets the guest's start-up summary for a person
	// once it answers.
	Banner io.Writer
	// Progress, when set, is a terminal that shows the boot's progress.
	Progress io.Writer
	// TLS says how clients reach the host's listener, for the summary
	// (the guest itself speaks plain gRPC over the channel).
	TLS *activity.SummaryTLS
	// Description names the machine for people, e.g. "QEMU VM (x86_64,
	// tcg)"; CASImage is the CAS disk image's path on the host.
	Description, CASImage string
}

// Serve boots the machine, waits until the guest answers through the
// channel, then forwards client connections to it until ctx is done, and
// then shuts the guest down: it closes the channel session, which the guest
// takes as the request to stop its daemon, sync, unmount and power off,
// and forces the VM down after ShutdownGrace. A ctx done while the guest
// boots is honoured once it answers (or StartTimeout passes), because only
// a guest that reached the channel can be asked to stop, and a guest
// forced down while it formats its CAS disk would leave that disk
// unusable. A VM that exits, or a channel that ends, while serving is an
// error: nothing is restarted silently.
func Serve(ctx context.Context, cfg ServeConfig) error {
	m, log := cfg.Machine, cfg.Logger
	booted := time.Now()
	if err := m.Start(ctx); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- m.Wait(context.Background()) }()

	boot := progress.New(cfg.Progress, progress.Options{Label: bootLabel(cfg.Description)})
	stopTicking := boot.Ticking()
	sess, err := start(context.WithoutCancel(ctx), cfg, exited)
	stopTicking()
	boot.Finish(err)
	if err != nil {
		// The guest may never have seen the channel, so there is no one to
		// ask: force it down now.
		if sess != nil {
			sess.Close()
		}
		forced, cancel := context.WithCancel(context.Background())
		cancel()
		_ = m.Stop(forced)
		return err
	}
	if ctx.Err() != nil {
		log.Info("stopping the guest, which was asked to while it booted", slog.Duration("grace", cfg.ShutdownGrace))
		return stop(cfg, sess)
	}
	lis, err := cfg.Listen()
	if err != nil {
		_ = stop(cfg, sess)
		return err
	}
	log.InfoContext(ctx, "actiond ready", slog.Duration("boot_to_ready", time.Since(booted)))
	log.InfoContext(ctx, "serving", slog.String("listen", lis.Addr().String()))

	fwdCtx, cancelFwd := context.WithCancel(ctx)
	defer cancelFwd()
	forwarded := make(chan error, 1)
	go func() { forwarded <- sess.Forward(fwdCtx, lis) }()
	statusDone, err := serveStatus(fwdCtx, cfg, sess, lis.Addr().String())
	if err != nil {
		cancelFwd()
		lis.Close()
		_ = stop(cfg, sess)
		return err
	}
	defer func() { cancelFwd(); <-statusDone }()

	// channelEnded builds its error after stop: the guest is powering off
	// then, and its console's last lines, complete once the VM exited, say
	// why.
	var serveErr error
	channelEnded := false
	select {
	case <-ctx.Done():
		log.Info("stopping the guest", slog.Duration("grace", cfg.ShutdownGrace))
	case err := <-exited:
		serveErr = exitError(true, err, cfg.Console.Tail())
		exited <- err
	case <-sess.Done():
		channelEnded = true
	case err := <-forwarded:
		// Forward also returns when ctx is done or the session ended;
		// report those as such.
		switch {
		case ctx.Err() != nil:
			log.Info("stopping the guest", slog.Duration("grace", cfg.ShutdownGrace))
		case isDone(sess.Done()):
			channelEnded = true
		case err == nil:
			serveErr = errors.New("forwarding to the guest stopped unexpectedly")
		default:
			serveErr = fmt.Errorf("forwarding to the guest failed: %w", err)
		}
	}
	cancelFwd()
	lis.Close()
	stopErr := stop(cfg, sess)
	if channelEnded {
		if stopErr == nil {
			// The VM exited by itself (QEMU's end closes the channel too):
			// report why it did.
			return exitError(true, m.Wait(context.Background()), cfg.Console.Tail())
		}
		return fmt.Errorf("the channel to the guest ended while serving, and %w", stopErr)
	}
	if stopErr != nil && serveErr == nil {
		serveErr = stopErr
	}
	return serveErr
}

// bootLabel names the boot in its progress line.
func bootLabel(machine string) string {
	if machine == "" {
		return "booting the VM"
	}
	return "booting the " + machine
}

// serveStatus prints the guest's start-up summary to cfg.Banner and serves
// its status page on cfg.StatusListen, both through the channel, until
// ctx is done; the returned channel closes once the page is down.
func serveStatus(ctx context.Context, cfg ServeConfig, sess Session, addr string) (<-chan struct{}, error) {
	done := make(chan struct{})
	if cfg.Banner == nil && cfg.StatusListen == nil {
		close(done)
		return done, nil
	}
	cc, err := dialGuest(sess.Dial)
	if err != nil {
		return nil, err
	}
	guest := guestStatus{client: statusrpc.NewClient(cc), vm: cfg.Description, casImage: cfg.CASImage}
	if cfg.Banner != nil {
		snapCtx, cancel := context.WithTimeout(ctx, readyAttemptTimeout)
		snap, err := guest.Snapshot(snapCtx)
		cancel()
		if err != nil {
			cfg.Logger.WarnContext(ctx, "reading the guest's summary failed", slog.Any("error", err))
		} else {
			snap.Summary.TLS = cfg.TLS
			fmt.Fprint(cfg.Banner, snap.Summary.Text(addr))
			if cfg.Description != "" {
				fmt.Fprintf(cfg.Banner, "  machine:  %s\n", cfg.Description)
			}
		}
	}
	if cfg.StatusListen == nil {
		cc.Close()
		close(done)
		return done, nil
	}
	sl, err := cfg.StatusListen()
	if err != nil {
		cc.Close()
		return nil, err
	}
	cfg.Logger.InfoContext(ctx, "status page", slog.String("url", "http://"+sl.Addr().String()+"/"))
	go func() {
		defer close(done)
		defer cc.Close()
		if err := statuspage.Serve(ctx, sl, statuspage.Handler(guest, guest.client, cfg.Logger), cfg.Logger); err != nil {
			cfg.Logger.WarnContext(ctx, "the status page stopped", slog.Any("error", err))
		}
	}()
	return done, nil
}

// start connects the channel and waits until the guest answers through
// it, within StartTimeout and for as long as the VM runs.
func start(ctx context.Context, cfg ServeConfig, exited chan error) (Session, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.StartTimeout, errStartTimeout)
	defer cancel()
	vmExit := make(chan error, 1)
	go func() {
		select {
		case err := <-exited:
			exited <- err
			vmExit <- err
			cancel()
		case <-ctx.Done():
		}
	}()
	fail := func(err error) error {
		cancel()
		select {
		case exitErr := <-vmExit:
			return exitError(false, exitErr, cfg.Console.Tail())
		default:
		}
		if errors.Is(context.Cause(ctx), errStartTimeout) {
			return fmt.Errorf("the guest did not answer within --start-timeout-ms=%d (last attempt: %v): raise it if the guest is just slow, else read the console; %s",
				cfg.StartTimeout.Milliseconds(), err, FormatTail("the guest console", cfg.Console.Tail()))
		}
		return err
	}
	conn, err := cfg.Machine.Channel(ctx)
	if err != nil {
		return nil, fail(fmt.Errorf("connecting the channel: %w", err))
	}
	sess, err := cfg.NewSession(conn)
	if err != nil {
		conn.Close()
		return nil, fail(fmt.Errorf("starting the channel session: %w", err))
	}
	if err := WaitReady(ctx, sess.Dial); err != nil {
		return sess, fail(err)
	}
	return sess, nil
}

var errStartTimeout = errors.New("start timeout")

// stop asks the guest to shut down by closing the session and waits for the
// VM to exit, forcing it after the grace period.
func stop(cfg ServeConfig, sess Session) error {
	sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := cfg.Machine.Stop(ctx); err != nil {
		return fmt.Errorf("the guest did not shut down cleanly: %w; %s", err, FormatTail("the guest console", cfg.Console.Tail()))
	}
	cfg.Logger.Info("the guest powered off")
	return nil
}

func exitReason(err error) string {
	if err == nil {
		return "the guest powered off or rebooted"
	}
	return err.Error()
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
