//go:build linux

package guest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/daemon"
)

// DaemonArg, as the first argument, makes the guest binary run Serve: PID
// 1 starts the daemon as "/init DaemonArg [runtime dir]".
const DaemonArg = "actiond-guest-daemon"

// ServeOptions configure the daemon process.
type ServeOptions struct {
	Logger *slog.Logger
	// Level is the logger's level, set from actiond.log_level.
	Level *slog.LevelVar
	// Listen turns the channel's byte stream into a session of many
	// connections; it is channel.Listen. Its Accept fails with an error
	// wrapping net.ErrClosed when the host ends the session.
	Listen func(conn io.ReadWriteCloser) (net.Listener, error)
	// RuntimeDir is the mounted runtime image; empty means none.
	RuntimeDir string
}

// casShare is the part of the CAS file system the CAS may fill; the rest is
// for the action work directories and ext4's own needs. The disk is the
// CAS's alone, unlike the host's where serve takes half of the free space.
const casShare = 0.8

// Serve runs the daemon on the host-guest channel until the host ends the
// session or ctx is done, and then stops it gracefully. It returns a
// *StepError naming what failed.
func Serve(ctx context.Context, opts ServeOptions) error {
	var cfg BootConfig
	if err := step("cmdline", func() (err error) {
		cfg, err = readCmdline()
		return err
	}); err != nil {
		return err
	}
	if opts.Level != nil {
		opts.Level.Set(cfg.LogLevel)
	}
	root := filepath.Join(CASDir, "actiond")
	var maxBytes int64
	if err := step("cas", func() error {
		var st unix.Statfs_t
		if err := unix.Statfs(CASDir, &st); err != nil {
			return err
		}
		maxBytes = int64(float64(st.Blocks) * float64(st.Bsize) * casShare)
		return nil
	}); err != nil {
		return err
	}
	jobs := cfg.Jobs
	if jobs == 0 {
		jobs = runtime.NumCPU()
	}
	var d *daemon.Daemon
	if err := step("daemon", func() (err error) {
		d, err = daemon.New(ctx, daemon.Config{
			Root:           root,
			MaxCASBytes:    maxBytes,
			Execution:      true,
			Jobs:           jobs,
			DefaultTimeout: 15 * time.Minute,
			RuntimeDir:     opts.RuntimeDir,
			Logger:         opts.Logger,
		})
		return err
	}); err != nil {
		return err
	}
	var lis net.Listener
	if err := step("channel", func() error {
		conn, err := openChannel(ctx, cfg.Channel, opts.Logger)
		if err != nil {
			return err
		}
		lis, err = opts.Listen(conn)
		if err != nil {
			conn.Close()
		}
		return err
	}); err != nil {
		return err
	}
	return step("serve", func() error {
		err := d.Serve(ctx, lis)
		if errors.Is(err, net.ErrClosed) {
			opts.Logger.Info("the host ended the session")
			return nil
		}
		return err
	})
}

// readCmdline parses /proc/cmdline.
func readCmdline() (BootConfig, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return BootConfig{}, err
	}
	return ParseCmdline(string(b))
}
