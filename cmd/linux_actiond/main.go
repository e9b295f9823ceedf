// Command linux_actiond is actiond's daemon on Linux hosts: a Bazel remote
// execution (REAPI v2) worker and cache.
//
//	linux_actiond serve [flags]     serve on the host, each action in fresh namespaces
//	linux_actiond serve-vm [flags]  serve from a QEMU VM that owns the CAS
//	linux_actiond gc [flags]        trim a stopped serve daemon's CAS
//	linux_actiond doctor [flags]    check what this host offers serve and serve-vm
//	linux_actiond version           print the version and the embedded payloads
//	linux_actiond help [command]    print help
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
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/actiond/actiond/go/cli"
	"github.com/actiond/actiond/go/daemon"
	"github.com/actiond/actiond/go/listener"
	"github.com/actiond/actiond/go/payload"
	"github.com/actiond/actiond/go/sandbox"
	"github.com/actiond/actiond/go/statuspage"
)

func main() {
	// The sandbox re-executes this binary as each action's first process;
	// that path must run before anything else.
	sandbox.MaybeRunInit()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "serve-vm":
		return serveVM(args[1:], stdout, stderr)
	case "doctor":
		return runDoctor(args[1:], stdout, stderr)
	case "gc":
		return runGC(args[1:], stdout, stderr)
	case "status":
		return statuspage.Command("linux_actiond", args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, cli.VersionLine("linux_actiond"))
		if err := cli.WriteEmbedded(stdout); err != nil {
			fmt.Fprintf(stderr, "linux_actiond: %v\n", err)
			return 1
		}
		return 0
	case "help", "--help", "-help", "-h":
		if len(args) > 1 && args[1] == "serve" {
			return serve([]string{"--help"}, stdout, stderr)
		}
		if len(args) > 1 && args[1] == "serve-vm" {
			return serveVM([]string{"--help"}, stdout, stderr)
		}
		if len(args) > 1 && args[1] == "doctor" {
			return runDoctor([]string{"--help"}, stdout, stderr)
		}
		if len(args) > 1 && args[1] == "gc" {
			return runGC([]string{"--help"}, stdout, stderr)
		}
		if len(args) > 1 && args[1] == "status" {
			return statuspage.Command("linux_actiond", []string{"--help"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "linux_actiond: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `%s

Usage:
  linux_actiond serve [flags]    run the REAPI server; actions run in namespace sandboxes
  linux_actiond serve-vm [flags] run it in a QEMU VM that owns the CAS; the same sandboxes inside
  linux_actiond doctor [flags]   check what this host offers serve and serve-vm
  linux_actiond gc --max-cas-bytes N [--root DIR]
                                 trim a stopped serve daemon's CAS
  linux_actiond status [--addr A] print a running daemon's actions, CAS and runtimes
  linux_actiond version          print the version
  linux_actiond help serve       list the flags of serve
  linux_actiond help serve-vm    list the flags of serve-vm
  linux_actiond help doctor      list the flags of doctor and its exit statuses

Point Bazel at it with --remote_executor=grpc://127.0.0.1:8980.
`, cli.VersionLine("linux_actiond"))
}

// terminal is w when it is a terminal, for progress lines; else nil.
func terminal(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok {
		return cli.Terminal(f)
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8980", "`address` to serve gRPC on (host:port); any but loopback needs the TLS flags")
	var tlsFlags listener.TLSFlags
	tlsFlags.Register(fs)
	root := fs.String("root", cli.DefaultRoot(), "`directory` for the CAS, the action cache and action work directories")
	maxCAS := fs.Int64("max-cas-bytes", 0, "CAS size `limit` in bytes, evicting least recently used blobs; 0 means half of the free disk at start-up")
	// Twice the cores: CPU-bound builds take as long as with one action per
	// core, builds whose actions wait (on I/O, on a child) finish sooner
	// (e2e/bench_jobs.sh).
	jobs := fs.Int("jobs", 2*runtime.NumCPU(), "how many actions run at once")
	defaultTimeout := fs.Duration("default-timeout", 15*time.Minute, "timeout for actions that set none")
	runtimeImage := fs.String("runtime-image", "", "runtime SquashFS `image` (from e2e/build_local_runtimes.sh) selected by the libc and requires-bash exec properties")
	runtimeDir := fs.String("runtime-dir", "", "an unpacked runtime image `directory`, instead of --runtime-image")
	noExec := fs.Bool("no-execution", false, "serve only the remote cache (no Execution service)")
	var allowed stringList
	fs.Var(&allowed, "allow-property", "exec property `name` to accept and ignore (repeatable), e.g. OSFamily or container-image")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	logFormat := fs.String("log-format", "auto", "log `format`: auto (text on a terminal, else json), json or text")
	metricsListen := fs.String("metrics-listen", "", "loopback `address` (host:port, e.g. 127.0.0.1:9090) for the status page at / and Prometheus metrics at /metrics; off when empty")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: linux_actiond serve [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if exit, ok := cli.ParseFlags(fs, args, "linux_actiond serve", stderr); !ok {
		return exit
	}
	logger, err := cli.NewLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "linux_actiond serve: %v\n", err)
		return 2
	}
	if *jobs < 1 {
		fmt.Fprintf(stderr, "linux_actiond serve: --jobs must be at least 1, got %d\n", *jobs)
		return 2
	}
	if *maxCAS < 0 {
		fmt.Fprintf(stderr, "linux_actiond serve: --max-cas-bytes must not be negative\n")
		return 2
	}
	if *runtimeImage != "" && *runtimeDir != "" {
		fmt.Fprintf(stderr, "linux_actiond serve: give --runtime-image or --runtime-dir, not both\n")
		return 2
	}
	if *root == "" {
		fmt.Fprintf(stderr, "linux_actiond serve: --root is required (no home or XDG_CACHE_HOME to default to)\n")
		return 2
	}
	if err := tlsFlags.Validate(*listen); err != nil {
		fmt.Fprintf(stderr, "linux_actiond serve: %v\n", err)
		return 2
	}
	tlsConfig, err := tlsFlags.Config()
	if err != nil {
		fmt.Fprintf(stderr, "linux_actiond serve: %v\n", err)
		return 2
	}

	var statusLis net.Listener
	if *metricsListen != "" {
		if statusLis, err = statuspage.Listen(*metricsListen); err != nil {
			fmt.Fprintf(stderr, "linux_actiond serve: %v\n", err)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger.Info("starting", slog.String("version", cli.VersionLine("linux_actiond")))
	if *runtimeDir == "" {
		// A standalone binary carries its runtime image.
		emb := &cli.Embedded{Root: *root, Logger: logger, Progress: terminal(stderr)}
		*runtimeImage, err = emb.File(ctx, payload.Runtimes, "--runtime-image", *runtimeImage, true)
		emb.Close()
		if err != nil {
			logger.Error("start-up failed", slog.Any("error", err))
			return 1
		}
	}
	d, err := daemon.New(ctx, daemon.Config{
		Root:              *root,
		MaxCASBytes:       *maxCAS,
		Execution:         !*noExec,
		Jobs:              *jobs,
		DefaultTimeout:    *defaultTimeout,
		RuntimeImage:      *runtimeImage,
		RuntimeDir:        *runtimeDir,
		AllowedProperties: allowed,
		Logger:            logger,
		Banner:            banner(*logFormat, stderr),
		Progress:          terminal(stderr),
		Version:           cli.Version,
		StatusListener:    statusLis,
		TLS:               tlsConfig,
		TLSCert:           tlsFlags.Cert,
	})
	if err != nil {
		logger.Error("start-up failed", slog.Any("error", err))
		return 1
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		logger.Error("listen failed", slog.String("listen", *listen), slog.Any("error", err))
		return 1
	}

	if err := d.Serve(ctx, lis); err != nil {
		logger.Error("serve failed", slog.Any("error", err))
		return 1
	}
	logger.Info("stopped")
	return 0
}

// banner is where serve prints its start-up summary for a person: stderr
// when the logs there are text (a terminal, or --log-format=text); nil
// when they are JSON, which the "serving" record then carries.
func banner(logFormat string, stderr io.Writer) io.Writer {
	if cli.LogFormat(logFormat, stderr) == "text" {
		return stderr
	}
	return nil
}
