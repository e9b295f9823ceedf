//go:build linux

package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/actiond/actiond/go/cli"
	"github.com/actiond/actiond/go/payload"
	"github.com/actiond/actiond/go/vm"
)

// useEmbedded fills the boot files left out of flags from the payloads
// embedded in this executable, if any, and returns a non-zero exit code on
// failure after logging why.
func useEmbedded(flags *vm.ServeFlags, logger *slog.Logger, stderr io.Writer) int {
	if flags.Root == "" {
		return 0 // Config says --root is required
	}
	emb := &cli.Embedded{Root: flags.Root, Logger: logger, Progress: terminal(stderr)}
	defer emb.Close()
	err := emb.Fill(context.Background(),
		cli.EmbeddedFlag{Name: payload.Kernel, Flag: "--kernel", Value: &flags.Kernel},
		cli.EmbeddedFlag{Name: payload.Initramfs, Flag: "--initramfs", Value: &flags.Initramfs},
		cli.EmbeddedFlag{Name: payload.Runtimes, Flag: "--runtime-image", Value: &flags.RuntimeImage})
	if err != nil {
		logger.Error("start-up failed", slog.Any("error", err))
		return 1
	}
	return 0
}
