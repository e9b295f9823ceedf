package doctor

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/actiond/actiond/go/cli"
	"github.com/actiond/actiond/go/payload"
)

// Command is the doctor command of the binary named binary: it parses args
// (usage heads its help; withQEMU adds --qemu, which only Linux's serve-vm
// has), runs the checks (Run) and prints the report to stdout. It
// returns the exit status: the report's (see Report.ExitCode), or 0
// after -help and 2 for bad arguments.
func Command(binary, usage string, withQEMU bool, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", cli.DefaultRoot(), "the `directory` serve and serve-vm would use: its free disk is checked, and on Linux a scratch directory made there")
	kernel := fs.String("kernel", "", "guest kernel `file` serve-vm would boot, tried under KVM on Linux (default: the one embedded in this binary, if any)")
	var qemuBin *string
	if withQEMU {
		qemuBin = fs.String("qemu", "", "QEMU system emulator `binary` serve-vm would use (default by the host architecture)")
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if exit, ok := cli.ParseFlags(fs, args, binary+" doctor", stderr); !ok {
		return exit
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opts := Options{
		Root:   *root,
		Kernel: *kernel,
		KernelFor: func(ctx context.Context) (string, error) {
			if *root == "" {
				return "", nil
			}
			e := &cli.Embedded{Root: *root, Logger: slog.New(slog.DiscardHandler)}
			defer e.Close()
			return e.File(ctx, payload.Kernel, "--kernel", "", true)
		},
	}
	if qemuBin != nil {
		opts.QEMU = *qemuBin
	}
	report := Run(ctx, opts)
	fmt.Fprintf(stdout, "%s doctor, --root %s\n\n", cli.VersionLine(binary), *root)
	if err := report.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "%s doctor: %v\n", binary, err)
	}
	return report.ExitCode()
}
