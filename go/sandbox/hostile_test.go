//go:build linux

package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actiond/actiond/go/sandbox"
	"github.com/actiond/actiond/go/sandbox/internal/probeinfo"
)

// hostileAttempt is one thing an action must not be able to do; the probe
// makes the attempt from inside the sandbox ("probe attempt ARGS") and
// prints "ok" or the errno it got.
type hostileAttempt struct {
	name string
	args []string // "HOSTPID" is replaced by the test process's pid
}

// hostileAttempts run with a tmpfs at /work (mount points, new nodes) and
// the probe at /probe. Those that would harm the host if they succeeded
// stop at the permission check (see the probe's attempt).
var hostileAttempts = []hostileAttempt{
	// The sandbox's pid 1 is its own init; the host's processes, the test
	// process among them, do not exist in its pid namespace.
	{"ptrace attach the sandbox init", []string{"ptrace-attach", "1"}},
	{"ptrace seize the sandbox init", []string{"ptrace-seize", "1"}},
	{"ptrace attach the test process", []string{"ptrace-attach", "HOSTPID"}},
	{"signal the test process", []string{"kill0", "HOSTPID"}},
	{"mount a tmpfs", []string{"mount", "tmpfs", "/work"}},
	{"mount proc", []string{"mount", "proc", "/work"}},
	{"mount sysfs", []string{"mount", "sysfs", "/work"}},
	{"bind-mount /", []string{"bind-root", "/work"}},
	{"unshare a mount namespace", []string{"unshare", "mnt"}},
	{"unshare a network namespace", []string{"unshare", "net"}},
	{"clone into a new user and mount namespace", []string{"clone", "user", "mnt"}},
	{"clone into a new user namespace", []string{"clone", "user"}},
	{"clone into a new pid namespace", []string{"clone", "pid"}},
	{"setns into the init's mount namespace", []string{"setns", "mnt"}},
	{"setns into the init's user namespace", []string{"setns", "user"}},
	{"setns into the init's pid namespace", []string{"setns", "pid"}},
	{"setns into the init's network namespace", []string{"setns", "net"}},
	{"setns into the init's cgroup namespace", []string{"setns", "cgroup"}},
	{"pivot_root", []string{"pivot_root", "/work", "/work"}},
	{"chroot", []string{"chroot", "/work"}},
	{"open /proc/sys/kernel/core_pattern for writing", []string{"open-write", "/proc/sys/kernel/core_pattern"}},
	{"open /proc/sys/kernel/hostname for writing", []string{"open-write", "/proc/sys/kernel/hostname"}},
	{"open /proc/sys/vm/drop_caches for writing", []string{"open-write", "/proc/sys/vm/drop_caches"}},
	{"open /proc/sys/net/ipv4/ip_forward for writing", []string{"open-write", "/proc/sys/net/ipv4/ip_forward"}},
	{"open /proc/sysrq-trigger for writing", []string{"open-write", "/proc/sysrq-trigger"}},
	{"open /proc/irq/default_smp_affinity for writing", []string{"open-write", "/proc/irq/default_smp_affinity"}},
	{"open /proc/1/mem for writing", []string{"open-write", "/proc/1/mem"}},
	{"open /sys/kernel/uevent_helper for writing", []string{"open-write", "/sys/kernel/uevent_helper"}},
	{"open /sys/fs/cgroup/cgroup.procs for writing", []string{"open-write", "/sys/fs/cgroup/cgroup.procs"}},
	{"mknod /dev/mem", []string{"mknod-char", "/work/mem", "1", "1"}},
	{"mknod a block device", []string{"mknod-block", "/work/sda", "8", "0"}},
	{"AF_INET raw socket", []string{"socket-raw"}},
	{"AF_INET6 raw socket", []string{"socket-raw6"}},
	{"AF_PACKET socket", []string{"socket-packet"}},
	{"AF_VSOCK socket", []string{"socket-vsock"}},
	{"open a virtio-serial port (VM mode's host channel)", []string{"open-vports"}},
	{"setresuid(0)", []string{"setuid0"}},
}

// checkHostileAttempts runs every hostileAttempt in its own sandbox of r
// and fails for each that succeeded. It logs the errno each got.
func checkHostileAttempts(t *testing.T, r *sandbox.Runner) {
	t.Helper()
	hostPid := strconv.Itoa(os.Getpid())
	var summary []string
	for _, a := range hostileAttempts {
		args := []string{"attempt"}
		for _, arg := range a.args {
			args = append(args, strings.ReplaceAll(arg, "HOSTPID", hostPid))
		}
		spec := probeSpec(t, args...)
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Tmpfs, Target: "/work"})
		o := mustRun(t, r, spec)
		got := strings.TrimSpace(o.stdout)
		summary = append(summary, fmt.Sprintf("%s: %s", a.name, got))
		if strings.HasPrefix(got, "ok") || got == "" {
			t.Errorf("%s (probe %q): got %q, want it refused", a.name, args, got)
		}
	}
	t.Logf("attempts and their errors:\n%s", strings.Join(summary, "\n"))
}

func TestHostileAttempts(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	t.Run("root", func(t *testing.T) {
		checkHostileAttempts(t, newRunner(t, sandbox.Options{}))
	})
	t.Run("rootless forced", func(t *testing.T) {
		checkHostileAttempts(t, newRunner(t, sandbox.Options{Rootless: true}))
	})
	t.Run("rootless as nobody", func(t *testing.T) {
		runAsNobody(t, "TestHostileInner", nil)
	})
}

// TestHostileInner is TestHostileAttempts's rootless case as a non-root
// daemon, run by it through runAsNobody.
func TestHostileInner(t *testing.T) {
	if !asNobody(t) {
		t.Skip("only run by TestHostileAttempts")
	}
	checkHostileAttempts(t, newRunner(t, sandbox.Options{}))
}

// asNobody reports whether the test runs under runAsNobody, and then
// points probePath at the copy that user can read.
func asNobody(t *testing.T) bool {
	probe := os.Getenv("ACTIOND_SANDBOX_ROOTLESS_PROBE")
	if probe == "" {
		return false
	}
	if os.Geteuid() == 0 {
		t.Fatal("expected to run as non-root")
	}
	probePath = probe
	return true
}

// runAsNobody re-runs the test binary's test named test as uid 65534
// through setpriv, the real rootless case, where only a user namespace
// grants the right to mount. The test finds the probe through asNobody;
// env is added to its environment.
func runAsNobody(t *testing.T, test string, env []string) {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	dir, err := os.MkdirTemp("", "sandbox-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sandbox.test")
	for src, dst := range map[string]string{self: bin, probePath: filepath.Join(dir, "probe")} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
		bin, "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "ACTIOND_SANDBOX_ROOTLESS_PROBE="+filepath.Join(dir, "probe"), "TMPDIR=/tmp")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	t.Logf("as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("%s as nobody failed: %v", test, err)
	}
	if !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("%s did not pass as nobody", test)
	}
}

// TestConcurrentActionsIsolated runs two actions at once: the first holds a
// secret in a directory of its own and waits; the second, knowing the
// secret's host path and the first action's host pid, cannot reach it,
// through the path, /proc or the first action's root.
func TestConcurrentActionsIsolated(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	for _, mode := range []struct {
		name string
		opts sandbox.Options
	}{{"root", sandbox.Options{}}, {"rootless forced", sandbox.Options{Rootless: true}}} {
		t.Run(mode.name, func(t *testing.T) {
			checkConcurrentIsolation(t, newRunner(t, mode.opts))
		})
	}
}

func checkConcurrentIsolation(t *testing.T, r *sandbox.Runner) {
	secretDir := mkdir(t, 0o777, map[string]string{"secret": "the first action's secret"})
	secret := filepath.Join(secretDir, "secret")
	marker := newMarker(t)

	// The first action: its own tree at /mine, a background process that
	// keeps it busy, and "spawned" on stdout once that runs.
	first := probeSpec(t, "spawn", marker, "1h")
	first.Mounts = append(first.Mounts, sandbox.Mount{Kind: sandbox.Bind, Source: secretDir, Target: "/mine"})
	ctx, cancel := context.WithCancel(context.Background())
	firstDone := make(chan outcome, 1)
	go func() { firstDone <- run(ctx, t, r, first) }()
	defer func() {
		cancel()
		<-firstDone
	}()
	waitCtx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if !waitForOutput(waitCtx, first.Stdout, "spawned") {
		t.Fatal("the first action did not start")
	}
	procs := processesWithMarker(t, marker)
	if len(procs) == 0 {
		t.Fatal("the first action's background process is not visible from the host")
	}
	hostPid, _, _ := strings.Cut(procs[0], ":")

	paths := []string{
		secret,
		"/mine/secret",
		"/proc/" + hostPid + "/root/mine/secret",
		"/proc/" + hostPid + "/cwd/mine/secret",
		"/proc/1/root/mine/secret",
		"/proc/1/root" + secret,
	}
	var ops []string
	for _, p := range paths {
		ops = append(ops, "read:"+p)
	}
	second := mustRun(t, r, probeSpec(t, append([]string{"ops"}, ops...)...))
	for _, line := range strings.Split(strings.TrimSpace(second.stdout), "\n") {
		if strings.Contains(line, "secret\"") && !strings.HasSuffix(line, "ENOENT") {
			t.Errorf("the second action: %s; want ENOENT", line)
		}
		if strings.Contains(line, "the first action's secret") {
			t.Errorf("the second action read the first one's file: %s", line)
		}
	}
	t.Logf("the second action's reads:\n%s", second.stdout)
	var rep probeinfo.Report
	info := mustRun(t, r, probeSpec(t, "info"))
	if err := json.Unmarshal([]byte(info.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rep.Pids) != fmt.Sprint([]int{1, rep.Pid}) {
		t.Errorf("processes the second action sees: %v, want only its init and itself", rep.Pids)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "the first action's secret" {
		t.Errorf("secret after the second action: %q, %v", b, err)
	}
}

// setuidProbe makes a setuid- and setgid-root copy of the probe in a
// directory everyone can read, and checks outside the sandbox that it
// works: run as 65534 there, it gets euid 0. It skips when the temporary
// directory is on a nosuid file system, where the test would prove nothing.
func setuidProbe(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sandbox-setuid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(probePath)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "probe")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755|os.ModeSetuid|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", p, "info").Output()
	if err != nil {
		t.Fatalf("setuid probe outside the sandbox: %v", err)
	}
	var rep probeinfo.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(rep.Status["Uid"]); len(f) < 2 || f[1] != "0" {
		t.Skipf("the setuid copy does not gain euid 0 even outside the sandbox (Uid: %q): nosuid %s?", rep.Status["Uid"], dir)
	}
	return p
}

// checkSetuidInputs runs the setuid-root probe at path from a read-only
// bind and from an overlay's lower layer; it must run as 65534 in every
// id (real, effective, saved, file system) and without capabilities.
func checkSetuidInputs(t *testing.T, r *sandbox.Runner, path string) {
	t.Helper()
	dir := filepath.Dir(path)
	for _, m := range []sandbox.Mount{
		{Kind: sandbox.Bind, Source: dir, Target: "/in", ReadOnly: true},
		{Kind: sandbox.Bind, Source: dir, Target: "/in"},
		{Kind: sandbox.Overlay, Lower: []string{dir}, Target: "/in"},
	} {
		spec := probeSpec(t, "info")
		spec.Args[0] = "/in/probe"
		spec.Mounts = append(spec.Mounts, m)
		rep := probeInfo(t, r, spec)
		for _, field := range []string{"Uid", "Gid"} {
			if got := strings.Join(strings.Fields(rep.Status[field]), " "); got != "65534 65534 65534 65534" {
				t.Errorf("%v: %s of the setuid-root input: %q, want 65534 in all four", m.Kind, field, got)
			}
		}
		if rep.Status["CapEff"] != "0000000000000000" || rep.Status["CapPrm"] != "0000000000000000" {
			t.Errorf("%v: the setuid-root input has capabilities: CapEff %s CapPrm %s", m.Kind, rep.Status["CapEff"], rep.Status["CapPrm"])
		}
	}
}

func TestSetuidInputs(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	p := setuidProbe(t)
	t.Run("root", func(t *testing.T) { checkSetuidInputs(t, newRunner(t, sandbox.Options{}), p) })
	t.Run("rootless forced", func(t *testing.T) { checkSetuidInputs(t, newRunner(t, sandbox.Options{Rootless: true}), p) })
	t.Run("rootless as nobody", func(t *testing.T) {
		runAsNobody(t, "TestSetuidInputsInner", []string{"ACTIOND_SANDBOX_SETUID_PROBE=" + p})
	})
}

// TestSetuidInputsInner is TestSetuidInputs's rootless case as a non-root
// daemon, run by it through runAsNobody.
func TestSetuidInputsInner(t *testing.T) {
	if !asNobody(t) {
		t.Skip("only run by TestSetuidInputs")
	}
	checkSetuidInputs(t, newRunner(t, sandbox.Options{}), os.Getenv("ACTIOND_SANDBOX_SETUID_PROBE"))
}

// TestClosedStdio: an action that closes its stdout and stderr ends like
// any other, with empty output files. (One that floods them is
// TestOutputTooLarge's.)
func TestClosedStdio(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	for _, mode := range []struct {
		name string
		opts sandbox.Options
	}{{"root", sandbox.Options{}}, {"rootless forced", sandbox.Options{Rootless: true}}} {
		t.Run(mode.name, func(t *testing.T) {
			o := mustRun(t, newRunner(t, mode.opts), probeSpec(t, "closestdio"))
			if o.stdout != "" || o.stderr != "" {
				t.Errorf("output after closing stdout and stderr: %q, %q; want none", o.stdout, o.stderr)
			}
		})
	}
}
