//go:build linux

package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"

	"github.com/actiond/actiond/go/reapi/reapitest"
	"github.com/actiond/actiond/go/vm/vmtest"
)

// TestServeVMEnforcesLimits runs actions that try to exceed the memory,
// pids and cpu limits in the real guest (cgroup v2 there, whatever the
// host has). Each limited run has an unlimited twin that must exceed what
// the limit allows, so a limit that is not applied fails the test.
func TestServeVMEnforcesLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	kernel, initramfs := vmtest.Kernel(t), vmtest.Initramfs(t, "../..")
	bin := goBuild(t, ".")
	probe, err := os.ReadFile(goBuild(t, "./testdata/limitprobe"))
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, "serve-vm", "--root="+t.TempDir(), "--kernel="+kernel, "--initramfs="+initramfs,
		"--memory-mib=1024", "--cpus=2", "--cas-image-size-mib=1024")
	defer func() {
		_ = d.cmd.Process.Signal(os.Interrupt)
		<-d.done
	}()

	var message string // the last response's message
	run := func(t *testing.T, args []string, props ...string) (*repb.ActionResult, string) {
		t.Helper()
		stream, _ := startAction(t, d.conn, probe, args, 2*time.Minute, props...)
		resp := waitStage(t, stream, repb.ExecutionStage_COMPLETED)
		if resp.GetStatus().GetCode() != 0 {
			t.Fatalf("Execute %v %v: %v", args, props, resp.GetStatus())
		}
		message = resp.GetMessage()
		res := resp.GetResult()
		return res, reapitest.ReadBlob(t, d.conn, res.GetStdoutDigest()) + string(res.GetStdoutRaw())
	}
	cpuMillis := func(t *testing.T, stdout string) int {
		t.Helper()
		m := regexp.MustCompile(`cpu_ms (\d+)`).FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("no cpu_ms in %q", stdout)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}

	t.Run("memory", func(t *testing.T) {
		if res, out := run(t, []string{"memory", "256"}); res.GetExitCode() != 0 || !regexp.MustCompile(`^allocated`).MatchString(out) {
			t.Fatalf("without a limit: exit %d, stdout %q; want 256 MiB allocated", res.GetExitCode(), out)
		}
		res, out := run(t, []string{"memory", "256"}, "memory", "64Mi")
		if res.GetExitCode() == 0 || regexp.MustCompile(`allocated`).MatchString(out) {
			t.Errorf("memory=64Mi: exit %d, stdout %q; want the action killed before it holds 256 MiB", res.GetExitCode(), out)
		}
		if !strings.Contains(message, "memory limit of 67108864 bytes") {
			t.Errorf("memory=64Mi: response message %q does not name the memory limit", message)
		}
	})
	t.Run("pids", func(t *testing.T) {
		if res, out := run(t, []string{"pids", "100"}); res.GetExitCode() != 0 || out != "started 100\n" {
			t.Fatalf("without a limit: exit %d, stdout %q; want 100 children started", res.GetExitCode(), out)
		}
		res, out := run(t, []string{"pids", "100"}, "pids", "32")
		m := regexp.MustCompile(`^fork failed after (\d+)`).FindStringSubmatch(out)
		if res.GetExitCode() != 0 || m == nil {
			t.Fatalf("pids=32: exit %d, stdout %q; want a fork to fail", res.GetExitCode(), out)
		}
		if n, _ := strconv.Atoi(m[1]); n >= 32 {
			t.Errorf("pids=32: %d children started before a fork failed", n)
		}
		if !strings.Contains(message, "limit of 32 processes") {
			t.Errorf("pids=32: response message %q does not name the pids limit", message)
		}
	})
	t.Run("cpu", func(t *testing.T) {
		// Two busy threads for 2 s: about 4 s of CPU time without a limit
		// on two CPUs, at most about 0.5 s at a quarter of a core.
		const wallMillis = 2000
		res, out := run(t, []string{"cpu", strconv.Itoa(wallMillis)})
		free := cpuMillis(t, out)
		if res.GetExitCode() != 0 || free < wallMillis {
			t.Fatalf("without a limit: exit %d, %d ms of CPU time in %d ms; want more than one core's worth", res.GetExitCode(), free, wallMillis)
		}
		res, out = run(t, []string{"cpu", strconv.Itoa(wallMillis)}, "cpu", "250m")
		limited := cpuMillis(t, out)
		if res.GetExitCode() != 0 || limited > wallMillis/2 {
			t.Errorf("cpu=250m: exit %d, %d ms of CPU time in %d ms of wall time; want at most %d (a quarter core, with room for the period's rounding)",
				res.GetExitCode(), limited, wallMillis, wallMillis/2)
		}
		t.Logf("CPU time in %d ms: %d ms unlimited, %d ms at cpu=250m", wallMillis, free, limited)
	})
}
