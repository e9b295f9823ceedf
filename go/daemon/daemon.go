package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/actiond/actiond/go/actioncache"
	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/internal/privdir"
	"github.com/actiond/actiond/go/listener"
	"github.com/actiond/actiond/go/metrics"
	"github.com/actiond/actiond/go/reapi"
	"github.com/actiond/actiond/go/rpcstatus"
	"github.com/actiond/actiond/go/statuspage"
	"github.com/actiond/actiond/go/statusrpc"
)

// ShutdownGrace is how long in-flight RPCs get to finish after a stop signal
// before their streams are cut. Uploads cut short are discarded, never
// half-visible, because the CAS only renames verified blobs into place.
const ShutdownGrace = 10 * time.Second

// Daemon is a configured actiond server.
type Daemon struct {
	cfg     Config
	logger  *slog.Logger
	store   *cas.Store
	cache   *actioncache.Cache
	storage *reapi.Server
	grpc    *grpc.Server
	closers []func() error
	// summary holds what startExecution found (runtimes, limits) for
	// Summary.
	summary activity.Summary
	// What the status page and the metrics show.
	started time.Time
	tracker *activity.Tracker
	metrics *metrics.Metrics
}

// New opens the stores and builds the services; Serve then runs them.
func New(ctx context.Context, cfg Config) (_ *Daemon, err error) {
	if cfg.Logger == nil {
		return nil, errors.New("daemon: Config.Logger is required")
	}
	if cfg.Root == "" {
		return nil, errors.New("daemon: Config.Root is required")
	}
	if cfg.RuntimeImage != "" && cfg.RuntimeDir != "" {
		return nil, errors.New("daemon: give a runtime image or a runtime directory, not both")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("daemon: root %q: %w", cfg.Root, err)
	}
	cfg.Root = root
	if fixed, err := privdir.Ensure(root); err != nil {
		return nil, rpcstatus.Newf(codes.FailedPrecondition, "daemon: root: %v", err)
	} else if fixed {
		cfg.Logger.WarnContext(ctx, "removed group and world write permission from the root directory", slog.String("root", root))
	}
	d := &Daemon{cfg: cfg, logger: cfg.Logger, started: time.Now(), tracker: activity.NewTracker(0, nil)}
	defer func() {
		if err != nil {
			d.close()
		}
	}()

	d.store, err = cas.Open(ctx, cas.Options{Root: root, MaxBytes: cfg.MaxCASBytes, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("daemon: opening the CAS: %w", err)
	}
	d.closers = append(d.closers, d.store.Close)
	d.metrics = metrics.New(d.store)
	d.cache, err = actioncache.Open(ctx, root, d.store, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("daemon: opening the action cache: %w", err)
	}

	opts := reapi.Options{
		Logger:           cfg.Logger,
		Store:            d.store,
		ActionCache:      d.cache,
		ExecutionEnabled: cfg.Execution,
		// Each RPC is logged only at debug level (--log-level=debug); the
		// interceptor costs next to nothing otherwise.
		LogRPCs: true,
	}
	d.storage, err = reapi.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d.closers = append(d.closers, func() error { d.storage.Close(); return nil })

	// The metrics interceptor comes first, so that it counts calls the
	// recovery interceptor turned from panics into INTERNAL.
	serverOpts := append(d.metrics.ServerOptions(), reapi.ServerOptions(opts)...)
	if cfg.TLS != nil {
		// grpc-go's own handshake deadline is two minutes; a client that
		// connects and says nothing should not hold a connection that long.
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(cfg.TLS)), grpc.ConnectionTimeout(listener.HandshakeTimeout))
	}
	d.grpc = grpc.NewServer(serverOpts...)
	reapi.Register(d.grpc, d.storage)
	statusrpc.Register(d.grpc, d, d.metrics.Registry())
	if cfg.Execution {
		if err := d.startExecution(ctx); err != nil {
			return nil, err
		}
	} else {
		repb.RegisterExecutionServer(d.grpc, disabledExecutionServer{})
	}
	d.recordRuntimes()
	st := d.store.Stats()
	d.logger.InfoContext(ctx, "actiond ready",
		slog.String("root", root),
		slog.Int64("cas_blobs", st.Blobs),
		slog.Int64("cas_bytes", st.Bytes),
		slog.Int64("cas_max_bytes", st.MaxBytes),
		slog.Bool("execution", cfg.Execution))
	return d, nil
}

// Serve answers gRPC on lis until ctx is done, then stops gracefully: new
// calls are refused, running ones get ShutdownGrace, and then everything
// is closed. It returns nil after a requested stop.
func (d *Daemon) Serve(ctx context.Context, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- d.grpc.Serve(lis) }()
	statusDone := make(chan error, 1)
	statusCtx, stopStatus := context.WithCancel(ctx)
	defer func() { stopStatus(); <-statusDone }()
	if sl := d.cfg.StatusListener; sl != nil {
		d.logger.InfoContext(ctx, "status page", slog.String("url", "http://"+sl.Addr().String()+"/"))
		go func() { statusDone <- statuspage.Serve(statusCtx, sl, d.StatusHandler(), d.logger) }()
	} else {
		statusDone <- nil
	}
	addr := lis.Addr().String()
	sum := d.Summary()
	d.logger.InfoContext(ctx, "serving", slog.String("listen", addr), slog.Any("bazelrc", sum.BazelrcLines(addr)))
	if d.cfg.Banner != nil {
		fmt.Fprint(d.cfg.Banner, sum.Text(addr))
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		d.logger.Info("stopping", slog.Duration("grace", ShutdownGrace))
		stopped := make(chan struct{})
		go func() { d.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(ShutdownGrace):
			d.logger.Warn("grace period over, cutting remaining calls")
			d.grpc.Stop()
		}
		<-errc
	}
	if err := d.close(); err != nil && serveErr == nil {
		serveErr = err
	}
	if errors.Is(serveErr, grpc.ErrServerStopped) {
		serveErr = nil
	}
	return serveErr
}

// close releases everything in reverse order of acquisition.
func (d *Daemon) close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	d.closers = nil
	return errors.Join(errs...)
}
