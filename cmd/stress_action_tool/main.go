// Command stress_action_tool is the action binary of the stress workspace
// (test/stress). Every stress action runs it: it reads and hashes its inputs,
// writes deterministic outputs (files, a directory of files, symlinks) and can
// assert properties of the sandbox it runs in.
//
// It is built statically (CGO_ENABLED=0, standard library only) so it runs in
// an empty chroot without any libc, and copied to test/stress/tool/action-tool.
//
// Flags (each may also come from a params file: an argument "@FILE" is
// replaced by the lines of FILE, one argument per line):
//
//	--scan PATH              hash a file or a directory tree (repeatable); symlinks
//	                         are followed so the hash does not depend on how inputs
//	                         were materialised (symlink forest, copies, hardlinks)
//	--out-file FILE          write "inputs=N\nhash=H\nchecks=...\n"
//	--out-dir DIR            write --out-count files into DIR
//	--out-count N            number of files in --out-dir
//	--out-name FORMAT        fmt pattern of their names (default "generated-%d.txt")
//	--out-bytes N            pad every --out-dir file to at least N bytes
//	--out-extra-file FILE    write a manifest: one "sha256  path" line per input
//	--out-symlink PATH       create a symlink (repeatable) ...
//	--out-symlink-target T   ... pointing at T (paired in order with --out-symlink)
//	--burn-mib N             hash N MiB before writing the outputs (CPU-bound work)
//	--sleep-ms N             then wait N ms (an action waiting on I/O)
//	--exercise-filesystem    mkdir/rename/link/symlink/chmod/unlink in a scratch
//	                         dir next to the first output, then remove it
//	--expect-network-blocked only "lo" is up and there is no route but loopback
//	--expect-loopback        a TCP connection to 127.0.0.1 works
//	--expect-localhost-hosts /etc/hosts maps 127.0.0.1 to localhost
//
// The --expect-* checks always run, but a failed check fails the action only
// when the environment variable ACTIOND_EXPECT_SANDBOX is "1": the local
// baseline build runs the same actions on the host, where the network is not
// blocked. The outputs never depend on the checks' results, only on which
// checks were requested, so local and remote outputs are byte-identical.
//
// The network check never sends anything: it reads /proc/net/dev,
// /proc/net/route and /proc/net/ipv6_route (and interface flags from sysfs or
// netlink). The loopback check connects only to a listener it opened itself
// on 127.0.0.1.
package main

import (
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/actiond/actiond/go/paramfile"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("stress_action_tool: ")
	args, err := paramfile.Expand(os.Args[1:])
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := parseFlags(args)
	if err != nil {
		log.Fatal(err)
	}
	if err := run(cfg, os.Getenv("ACTIOND_EXPECT_SANDBOX") == "1"); err != nil {
		log.Fatal(err)
	}
}

// run performs the checks, the scan and writes the outputs.
func run(cfg *config, enforce bool) error {
	var failed []string
	for _, c := range cfg.checks {
		if err := c.run(); err != nil {
			if enforce {
				failed = append(failed, fmt.Sprintf("%s: %v", c.name, err))
			} else {
				log.Printf("check %s failed (not enforced, ACTIOND_EXPECT_SANDBOX is not 1): %v", c.name, err)
			}
		}
	}
	if len(failed) > 0 {
		for _, f := range failed {
			log.Printf("check %s", f)
		}
		return fmt.Errorf("%d of %d sandbox checks failed", len(failed), len(cfg.checks))
	}
	if enforce && len(cfg.checks) > 0 {
		// e2e/stress.sh counts these lines to prove the checks really ran
		// as assertions in the remote sandbox.
		log.Printf("sandbox checks passed (enforced): %d", len(cfg.checks))
	}
	sum, err := scan(cfg.scans)
	if err != nil {
		return err
	}
	burn(cfg.burnMiB)
	time.Sleep(time.Duration(cfg.sleepMs) * time.Millisecond)
	return writeOutputs(cfg, sum)
}

// burn hashes n MiB of zeros: a fixed amount of CPU work whatever the
// load, so that a CPU-bound workload costs the same CPU time in every
// mode and only its scheduling differs.
func burn(n int) {
	buf := make([]byte, 1<<20)
	h := sha256.New()
	for range n {
		h.Write(buf)
	}
	_ = h.Sum(nil)
}
