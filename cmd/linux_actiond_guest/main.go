//go:build linux

// Command linux_actiond_guest is /init in actiond's VM: it mounts the
// disks the host gives it and runs the same daemon as `linux_actiond
// serve`, serving on the host-guest channel. It is built static
// (CGO_ENABLED=0) for amd64 and arm64 and put into the initramfs by
// cmd/initramfs_builder.
//
// As PID 1 it runs the boot steps and supervises; started by itself with
// guest.DaemonArg it is the daemon; started by the sandbox it is an
// action's init. Everything it reads comes from the kernel command line
// (see package guest).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/actiond/actiond/go/channel"
	"github.com/actiond/actiond/go/guest"
	"github.com/actiond/actiond/go/sandbox"
)

func main() {
	// The sandbox re-executes this binary as each action's first process;
	// that path must run before anything else.
	sandbox.MaybeRunInit()

	console, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err != nil {
		console = os.Stderr
	}
	level := new(slog.LevelVar)
	logger := slog.New(slog.NewTextHandler(console, &slog.HandlerOptions{Level: level}))

	if len(os.Args) > 1 && os.Args[1] == guest.DaemonArg {
		runtimeDir := ""
		if len(os.Args) > 2 {
			runtimeDir = os.Args[2]
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if err := guest.Serve(ctx, guest.ServeOptions{Logger: logger, Level: level, Listen: channel.Listen, RuntimeDir: runtimeDir}); err != nil {
			fmt.Fprintln(console, err.Error())
			os.Exit(1)
		}
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "linux_actiond_guest: this is the VM's /init; it runs only as PID 1")
		os.Exit(2)
	}
	guest.Run(guest.Options{Logger: logger, Level: level, Console: console, Formatter: guest.DefaultFormatter()})
}
