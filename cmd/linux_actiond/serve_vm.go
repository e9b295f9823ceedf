//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/actiond/actiond/go/channel"
	"github.com/actiond/actiond/go/cli"
	"github.com/actiond/actiond/go/vm"
	"github.com/actiond/actiond/go/vm/qemu"
)

// shutdownGrace is how long the guest gets to stop its daemon, sync and
// unmount its disks and power off after SIGINT or SIGTERM before QEMU is
// forced down.
const shutdownGrace = 30 * time.Second

// consoleLines is how many of the guest console's last lines error
// reports carry.
const consoleLines = 40

// newSession starts the channel session on the VM's channel stream; tests
// stand in for it.
var newSession vm.NewSessionFunc = func(c io.ReadWriteCloser) (vm.Session, error) {
	return channel.NewHost(c)
}

func serveVM(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve-vm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common vm.ServeFlags
	common.Register(fs, cli.DefaultRoot())
	archName := fs.String("arch", string(vm.HostArch()), "guest `architecture`: x86_64 or arm64 (another than the host's runs under TCG emulation)")
	qemuBin := fs.String("qemu", "", "QEMU system emulator `binary` (default qemu-system-x86_64 or qemu-system-aarch64 by --arch)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	logFormat := fs.String("log-format", "auto", "log `format`: auto (text on a terminal, else json), json or text")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: linux_actiond serve-vm [flags]\n\nRuns actiond in a QEMU VM (no network device; KVM when it works, else TCG) and forwards --listen to it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if exit, ok := cli.ParseFlags(fs, args, "linux_actiond serve-vm", stderr); !ok {
		return exit
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "linux_actiond serve-vm: "+format+"\n", a...)
		return 2
	}
	logger, err := cli.NewLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return fail("%v", err)
	}
	arch, err := vm.ParseArch(*archName)
	if err != nil {
		return fail("--arch: %v", err)
	}
	if arch == vm.HostArch() {
		// A standalone binary carries the host architecture's guest.
		if err := cli.UseEmbeddedBootFiles(context.Background(), common.Root, logger, terminal(stderr),
			&common.Kernel, &common.Initramfs, &common.RuntimeImage); err != nil {
			logger.Error("start-up failed", slog.Any("error", err))
			return 1
		}
	}
	cfg, err := common.Config(arch)
	if err != nil {
		return fail("%v", err)
	}
	listen, tlsSummary, err := common.Listener()
	if err != nil {
		return fail("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first signal asks the guest to stop, which may take up to
		// shutdownGrace (or the start timeout while it boots); a second
		// one kills serve-vm, and QEMU with it.
		<-ctx.Done()
		stop()
	}()
	logger.Info("starting", slog.String("version", cli.VersionLine("linux_actiond")))
	ui := vmUI{statusListen: common.StatusListen(), tls: tlsSummary, banner: banner(*logFormat, stderr), progress: terminal(stderr)}
	if err := runVM(ctx, cfg, common.Root, listen, *qemuBin, logger, ui); err != nil {
		logger.Error("serve-vm failed", slog.Any("error", err))
		return 1
	}
	logger.Info("stopped")
	return 0
}

// runVM locks the state directory and the CAS image, chooses the
// accelerator and serves until ctx is done or the VM fails.
func runVM(ctx context.Context, cfg vm.Config, root string, listen func() (net.Listener, error), qemuBin string, logger *slog.Logger, ui vmUI) error {
	state, err := vm.OpenStateDir(root)
	if err != nil {
		return err
	}
	defer state.Close()
	img, err := vm.OpenCASImage(cfg.CASImage, cfg.CASImageSizeMiB)
	if err != nil {
		return err
	}
	defer img.Close()
	logger.Info("cas image", slog.String("path", img.Path), slog.Int64("size_mib", img.SizeBytes>>20),
		slog.Bool("created", img.Created), slog.Bool("format", img.Fresh))
	if !img.Created && img.SizeBytes != cfg.CASImageSizeMiB<<20 {
		logger.Info("the existing cas image keeps its size; --cas-image-size-mib applies to new images only")
	}

	v := qemu.ProbeAccel(ctx, qemuBin, cfg.Arch, cfg.Kernel)
	logger.Info("accelerator", slog.String("accel", string(v.Accel)), slog.String("reason", v.Reason))

	console := vm.NewConsole(logger, "guest", consoleLines)
	cfg.Console = console
	m := qemu.New(cfg, qemu.Options{
		Binary: qemuBin,
		Accel:  v.Accel,
		Cmdline: vm.Cmdline{
			Console:   vm.SerialConsole(cfg.Arch),
			Channel:   vm.VirtioSerialChannel(vm.ChannelPortName),
			Runtime:   cfg.RuntimeImage != "",
			FormatCAS: img.Fresh,
			Jobs:      cfg.Jobs,
		}.String(),
		ChannelSocket: state.ChannelSocket(),
		Logger:        logger,
	})
	logger.Info("starting the VM", slog.Any("argv", m.Argv()))
	err = vm.Serve(ctx, vm.ServeConfig{
		Machine:       m,
		NewSession:    newSession,
		Listen:        listen,
		Console:       console,
		StartTimeout:  cfg.StartTimeout,
		ShutdownGrace: shutdownGrace,
		Logger:        logger,
		StatusListen:  ui.statusListen,
		TLS:           ui.tls,
		Banner:        ui.banner,
		Progress:      ui.progress,
		Description:   fmt.Sprintf("QEMU VM (%s, %s, %d CPUs, %d MiB)", cfg.Arch, v.Accel, cfg.CPUs, cfg.MemoryMiB),
		CASImage:      img.Path,
	})
	// The guest names its disks by device; the user knows them by flag.
	var ge *vm.GuestError
	if errors.As(err, &ge) {
		switch ge.Step {
		case "cas":
			return fmt.Errorf("--cas-image %s: %w", img.Path, err)
		case "runtimes":
			return fmt.Errorf("--runtime-image %s: %w", cfg.RuntimeImage, err)
		}
	}
	return err
}
