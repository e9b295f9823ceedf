//go:build darwin

// Command darwin_actiond runs actiond on macOS: `serve-vm` boots the arm64
// Linux guest (kernel, initramfs with the guest agent, CAS and runtime disk
// images) with Apple's Virtualization framework and forwards Bazel's gRPC
// connections to the actiond inside it through a virtio socket. Actions run
// in the guest, with the same sandbox as `linux_actiond serve`; the host
// keeps no copy of the CAS. `doctor` checks what the Mac offers serve-vm.
//
// The binary must be signed with the virtualization entitlement before it
// can start a VM:
//
//	codesign --sign - --force --entitlements cmd/darwin_actiond/actiond.entitlements darwin_actiond
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/actiond/actiond/go/channel"
	"github.com/actiond/actiond/go/cli"
	"github.com/actiond/actiond/go/statuspage"
	"github.com/actiond/actiond/go/vm"
	"github.com/actiond/actiond/go/vm/vz"
)

const (
	// shutdownGrace is how long the guest gets to stop its daemon, sync and
	// unmount its disks after SIGINT or SIGTERM before the VM is stopped.
	shutdownGrace = 30 * time.Second
	// consoleLines is how many of the guest console's last lines error
	// reports carry.
	consoleLines = 40
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve-vm":
		return serveVM(args[1:], stderr)
	case "status":
		return statuspage.Command("darwin_actiond", args[1:], stdout, stderr)
	case "doctor":
		return runDoctor(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, cli.VersionLine("darwin_actiond"))
		if err := cli.WriteEmbedded(stdout); err != nil {
			fmt.Fprintf(stderr, "darwin_actiond: %v\n", err)
			return 1
		}
		return 0
	case "help", "--help", "-help", "-h":
		if len(args) > 1 && args[1] == "serve-vm" {
			return serveVM([]string{"--help"}, stdout)
		}
		if len(args) > 1 && args[1] == "doctor" {
			return runDoctor([]string{"--help"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "darwin_actiond: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `Usage:
  darwin_actiond serve-vm [flags]   run actiond in a Linux VM (Virtualization framework)
  darwin_actiond doctor [flags]     check what this Mac offers serve-vm
  darwin_actiond status [--addr A]  print the guest's actions, CAS and runtimes
  darwin_actiond version            print the version
  darwin_actiond help serve-vm      list the flags of serve-vm
  darwin_actiond help doctor        list the flags of doctor and its exit statuses

%s
Point Bazel at it with --remote_executor=grpc://127.0.0.1:8980.
`, cli.VersionLine("darwin_actiond"))
}

func serveVM(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve-vm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common vm.ServeFlags
	common.Register(fs, cli.DefaultRoot())
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	logFormat := fs.String("log-format", "auto", "log `format`: auto (text on a terminal, else json), json or text")
	if exit, ok := cli.ParseFlags(fs, args, "darwin_actiond serve-vm", stderr); !ok {
		return exit
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "darwin_actiond serve-vm: "+format+"\n", a...)
		return 2
	}
	logger, err := cli.NewLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return fail("%v", err)
	}
	// A standalone binary carries the kernel, initramfs and runtime image as
	// Mach-O sections.
	if err := cli.UseEmbeddedBootFiles(context.Background(), common.Root, logger, cli.Terminal(os.Stderr),
		&common.Kernel, &common.Initramfs, &common.RuntimeImage); err != nil {
		logger.Error("start-up failed", slog.Any("error", err))
		return 1
	}
	// The Virtualization framework runs guests of the host's architecture.
	cfg, err := common.Config(vm.ARM64)
	if err != nil {
		return fail("%v", err)
	}
	listen, tlsSummary, err := common.Listener()
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger.Info("starting", slog.String("version", cli.VersionLine("darwin_actiond")))
	var banner io.Writer
	if cli.LogFormat(*logFormat, os.Stderr) == "text" {
		banner = os.Stderr
	}
	ui := vm.ServeConfig{StatusListen: common.StatusListen(), TLS: tlsSummary, Banner: banner, Progress: cli.Terminal(os.Stderr)}
	if err := runVM(ctx, cfg, common.Root, listen, logger, ui); err != nil {
		logger.Error("serve-vm failed", slog.Any("error", err))
		return 1
	}
	logger.Info("stopped")
	return 0
}

// runVM boots the guest and serves; ui holds the ServeConfig fields that
// show things to people (status page, summary, progress).
func runVM(ctx context.Context, cfg vm.Config, root string, listen func() (net.Listener, error), logger *slog.Logger, ui vm.ServeConfig) error {
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
	console := vm.NewConsole(logger, "guest", consoleLines)
	cfg.Console = console
	m := vz.New(cfg, vm.Cmdline{
		Console:   "hvc0",
		Channel:   vm.VsockChannel(vz.ChannelPort),
		Runtime:   cfg.RuntimeImage != "",
		FormatCAS: img.Fresh,
		Jobs:      cfg.Jobs,
	}.String())
	return vm.Serve(ctx, vm.ServeConfig{
		Machine:       m,
		NewSession:    func(c io.ReadWriteCloser) (vm.Session, error) { return channel.NewHost(c) },
		Listen:        listen,
		Console:       console,
		StartTimeout:  cfg.StartTimeout,
		ShutdownGrace: shutdownGrace,
		Logger:        logger,
		StatusListen:  ui.StatusListen,
		TLS:           ui.TLS,
		Banner:        ui.Banner,
		Progress:      ui.Progress,
		Description:   fmt.Sprintf("Virtualization.framework VM (arm64, %d CPUs, %d MiB)", cfg.CPUs, cfg.MemoryMiB),
		CASImage:      img.Path,
	})
}
