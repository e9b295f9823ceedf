package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/cli"
)

// runGC is `linux_actiond gc`: it trims the CAS of a stopped serve daemon
// to --max-cas-bytes, evicting least recently used blobs first, as the
// daemon does when it starts with a lower limit. Action results whose
// blobs go become cache misses on their next lookup.
func runGC(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", cli.DefaultRoot(), "the stopped daemon's `directory` (serve's --root)")
	maxBytes := fs.Int64("max-cas-bytes", 0, "trim the CAS to this many `bytes` (required)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: linux_actiond gc --max-cas-bytes N [--root DIR]\n\nTrims the CAS of a stopped linux_actiond serve (a running one holds its lock: stop it first).\nserve-vm keeps its CAS inside the VM's disk image, which this does not touch.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if exit, ok := cli.ParseFlags(fs, args, "linux_actiond gc", stderr); !ok {
		return exit
	}
	if *maxBytes <= 0 || *root == "" {
		fmt.Fprintf(stderr, "linux_actiond gc: --max-cas-bytes (a positive size) and --root are required\n")
		return 2
	}
	if _, err := os.Stat(filepath.Join(*root, "cas")); err != nil {
		fmt.Fprintf(stderr, "linux_actiond gc: no CAS under %s: %v\n", *root, err)
		return 1
	}
	ctx := context.Background()
	store, err := cas.Open(ctx, cas.Options{Root: *root, MaxBytes: *maxBytes, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintf(stderr, "linux_actiond gc: %v\n", err)
		return 1
	}
	st := store.Stats()
	if err := store.Close(); err != nil {
		fmt.Fprintf(stderr, "linux_actiond gc: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "CAS under %s: %d blobs, %d bytes (limit %d); evicted %d blobs\n", *root, st.Blobs, st.Bytes, st.MaxBytes, st.Evictions)
	return 0
}
