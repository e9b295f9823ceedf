//go:build linux

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
const doctorUsage = `Usage: linux_actiond doctor [flags]

Checks what this host offers serve and serve-vm and prints one line per
check (ok, MISSING with a one-line fix, or skipped), then a verdict for each
command. It runs one action in a real sandbox and, with QEMU and a guest
kernel, boots that kernel under KVM (up to 5 s).

Exit status: 0 serve and serve-vm can both work (maybe without something,
as the verdicts say); 1 serve can work but serve-vm cannot; 3 serve cannot
work; 2 bad arguments.

Flags:
`

func runDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", cli.DefaultRoot(), "the `directory` serve and serve-vm would use: its free disk is checked, and a scratch directory made there")
	kernel := fs.String("kernel", "", "guest kernel `file` to try under KVM (default: the one embedded in this binary, if any)")
	qemuBin := fs.String("qemu", "", "QEMU system emulator `binary` serve-vm would use (default by the host architecture)")
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
		fmt.Fprintf(stderr, "linux_actiond doctor: unexpected arguments %q\n", fs.Args())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	report := doctor.Run(ctx, doctor.Options{
		Root:   *root,
		Kernel: *kernel,
		QEMU:   *qemuBin,
		KernelFor: func(ctx context.Context) (string, error) {
			if *root == "" {
				return "", nil
			}
			e := &cli.Embedded{Root: *root, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			defer e.Close()
			return e.File(ctx, payload.Kernel, "--kernel", "", true)
		},
	})
	fmt.Fprintf(stdout, "%s doctor, --root %s\n\n", cli.VersionLine("linux_actiond"), *root)
	if err := report.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "linux_actiond doctor: %v\n", err)
	}
	return report.ExitCode()
}
