//go:build darwin

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/actiond/actiond/go/cli"
	"github.com/actiond/actiond/go/doctor"
	"github.com/actiond/actiond/go/payload"
)

// doctorUsage documents the exit statuses, which scripts may test.
const doctorUsage = `Usage: darwin_actiond doctor [flags]

Checks what this Mac offers serve-vm (Apple silicon, the Hypervisor
framework, this binary's virtualization entitlement, a guest kernel, free
disk) and prints one line per check (ok, MISSING with a one-line fix, or
skipped), then a verdict.

Exit status: 0 serve-vm can work; 3 it cannot; 2 bad arguments.

Flags:
`

func runDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", cli.DefaultRoot(), "the `directory` serve-vm would use: its free disk is checked")
	kernel := fs.String("kernel", "", "guest kernel `file` serve-vm would boot (default: the one embedded in this binary, if any)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), doctorUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "darwin_actiond doctor: unexpected arguments %q\n", fs.Args())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	report := doctor.Run(ctx, doctor.Options{
		Root:   *root,
		Kernel: *kernel,
		KernelFor: func(ctx context.Context) (string, error) {
			if *root == "" {
				return "", nil
			}
			e := &cli.Embedded{Root: *root, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			defer e.Close()
			return e.File(ctx, payload.Kernel, "--kernel", "", true)
		},
	})
	fmt.Fprintf(stdout, "%s doctor, --root %s\n\n", cli.VersionLine("darwin_actiond"), *root)
	if err := report.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "darwin_actiond doctor: %v\n", err)
	}
	return report.ExitCode()
}
