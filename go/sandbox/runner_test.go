//go:build linux

package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/sandbox"
	"github.com/actiond/actiond/go/sandbox/internal/probeinfo"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: namespaces, mounts and switching to uid 65534")
	}
}

func requireProbe(t testing.TB) {
	t.Helper()
	if probePath == "" {
		if errors.Is(probeBuildErr, errNoGoTool) {
			t.Skipf("probe helper unavailable: %v", probeBuildErr)
		}
		t.Fatalf("probe helper unavailable: %v", probeBuildErr)
	}
}

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func newRunner(t testing.TB, opts sandbox.Options) *sandbox.Runner {
	t.Helper()
	return newRunnerLogging(t, opts, io.Discard)
}

// newRunnerLogging is newRunner with the Runner's log also written to w.
func newRunnerLogging(t testing.TB, opts sandbox.Options, w io.Writer) *sandbox.Runner {
	t.Helper()
	r, err := sandbox.NewRunner(slog.New(slog.NewTextHandler(io.MultiWriter(testLogWriter{t}, w), nil)), opts)
	if err != nil {
		t.Fatalf("NewRunner: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// probeSpec runs the probe helper, bind-mounted read-only at /probe.
func probeSpec(t testing.TB, args ...string) sandbox.Spec {
	t.Helper()
	dir := t.TempDir()
	return sandbox.Spec{
		Args:   append([]string{"/probe"}, args...),
		Env:    []string{"PATH=/bin", "HOME=/tmp"},
		Dir:    "/",
		Mounts: []sandbox.Mount{{Kind: sandbox.Bind, Source: probePath, Target: "/probe", ReadOnly: true}},
		Stdout: filepath.Join(dir, "stdout"),
		Stderr: filepath.Join(dir, "stderr"),
	}
}

type outcome struct {
	res            sandbox.Result
	err            error
	stdout, stderr string
}

func run(ctx context.Context, t testing.TB, r *sandbox.Runner, spec sandbox.Spec) outcome {
	t.Helper()
	res, err := r.Run(ctx, spec)
	stdout, _ := os.ReadFile(spec.Stdout)
	stderr, _ := os.ReadFile(spec.Stderr)
	return outcome{res: res, err: err, stdout: string(stdout), stderr: string(stderr)}
}

// mustRun runs spec and fails unless it exits 0.
func mustRun(t testing.TB, r *sandbox.Runner, spec sandbox.Spec) outcome {
	t.Helper()
	o := run(context.Background(), t, r, spec)
	if o.err != nil || o.res.ExitCode != 0 {
		t.Fatalf("Run(%q) = %+v, %v; want exit 0\nstdout: %s\nstderr: %s", spec.Args, o.res, o.err, o.stdout, o.stderr)
	}
	return o
}

func probeInfo(t testing.TB, r *sandbox.Runner, spec sandbox.Spec) probeinfo.Report {
	t.Helper()
	o := mustRun(t, r, spec)
	var rep probeinfo.Report
	if err := json.Unmarshal([]byte(o.stdout), &rep); err != nil {
		t.Fatalf("decode probe report: %v\n%s", err, o.stdout)
	}
	return rep
}

// checkConfinement asserts what every sandbox must look like from inside;
// uid is the expected uid (65534, or 0 in rootless mode).
func checkConfinement(t *testing.T, rep probeinfo.Report, uid int) {
	t.Helper()
	const noCaps = "0000000000000000"
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"hostname", rep.Hostname, "localhost"},
		{"uid", rep.UID, uid},
		{"gid", rep.GID, uid},
		{"supplementary groups", len(rep.Groups), 0},
		{"parent pid (the sandbox init)", rep.Ppid, 1},
		{"visible processes", fmt.Sprint(rep.Pids), fmt.Sprint([]int{1, rep.Pid})},
		{"CapEff", rep.Status["CapEff"], noCaps},
		{"CapPrm", rep.Status["CapPrm"], noCaps},
		{"CapInh", rep.Status["CapInh"], noCaps},
		{"CapBnd", rep.Status["CapBnd"], noCaps},
		{"CapAmb", rep.Status["CapAmb"], noCaps},
		{"NoNewPrivs", rep.Status["NoNewPrivs"], "1"},
		{"Seccomp mode", rep.Status["Seccomp"], "2"},
		{"network interfaces", strings.Join(rep.NetDevs, ","), "lo"},
		{"IPv4 routes", len(rep.Routes), 0},
		{"socket(AF_VSOCK)", rep.Vsock, "EPERM"},
		{"io_uring_setup", rep.IOUring, "EPERM"},
		{"bpf", rep.BPF, "EPERM"},
		{"setsockopt(SO_ATTACH_FILTER)", rep.AttachBPF, "EPERM"},
		{"TCP over 127.0.0.1", rep.TCP, "pong"},
		{"umask", rep.Umask, 0o022},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, dev := range rep.IPv6Devs {
		if dev != "lo" {
			t.Errorf("IPv6 route via %q, want only lo (routes: %v)", dev, rep.IPv6Devs)
		}
	}
	if len(rep.OpenFDs) != 3 || rep.OpenFDs[0] != "0 -> /dev/null" {
		t.Errorf("descriptors open at start: got %q, want only 0 (/dev/null), 1 and 2", rep.OpenFDs)
	}
}

func TestConfinement(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	hostBefore, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, sandbox.Options{})
	spec := probeSpec(t, "info")
	spec.Dir = "/work"
	spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Tmpfs, Target: "/work"})
	spec.Env = []string{"PATH=/bin", "FOO=bar baz"}
	rep := probeInfo(t, r, spec)
	checkConfinement(t, rep, 65534)
	checkInitSurvivesSignals(t, r)
	if rep.Cwd != "/work" {
		t.Errorf("cwd: got %q, want /work", rep.Cwd)
	}
	if strings.Join(rep.Env, "\n") != strings.Join(spec.Env, "\n") {
		t.Errorf("environment: got %q, want %q", rep.Env, spec.Env)
	}
	// The action set its host name (checkConfinement saw "localhost") in
	// its own UTS namespace only.
	t.Run("host name unchanged", func(t *testing.T) {
		if hostBefore == rep.Hostname {
			t.Skipf("the host is named %q like the sandbox: a leak would not show", hostBefore)
		}
		if got, err := os.Hostname(); err != nil || got != hostBefore {
			t.Errorf("host name after the action: got %q, %v; want %q as before", got, err, hostBefore)
		}
	})
}

func TestRootlessForced(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	r := newRunner(t, sandbox.Options{Rootless: true})
	if !r.Rootless() {
		t.Fatal("Rootless() = false with Options.Rootless")
	}
	checkConfinement(t, probeInfo(t, r, probeSpec(t, "info")), 65534)
	checkMounts(t, r)
	checkInitSurvivesSignals(t, r)
}

// TestRootlessAsNobody re-runs TestRootlessInner as uid 65534 (see
// runAsNobody).
func TestRootlessAsNobody(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	runAsNobody(t, "TestRootlessInner", nil)
}

func TestRootlessInner(t *testing.T) {
	if !asNobody(t) {
		t.Skip("only run by TestRootlessAsNobody")
	}
	r := newRunner(t, sandbox.Options{})
	if !r.Rootless() {
		t.Fatal("Rootless() = false for a non-root daemon")
	}
	checkConfinement(t, probeInfo(t, r, probeSpec(t, "info")), 65534)
	checkMounts(t, r)
	checkInitSurvivesSignals(t, r)
}

// checkInitSurvivesSignals: in rootless mode the command shares the init's
// uid and may signal it; the init must neither die nor mask the result.
func checkInitSurvivesSignals(t *testing.T, r *sandbox.Runner) {
	t.Helper()
	o := run(context.Background(), t, r, probeSpec(t, "killinit"))
	if o.err != nil || o.res.ExitCode != 0 {
		t.Errorf("command signalling the init: got %+v, %v, want exit 0\nstdout: %s", o.res, o.err, o.stdout)
	}
}

func TestExitStatus(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	r := newRunner(t, sandbox.Options{})
	notExec := mkdir(t, 0o755, map[string]string{"data": "not a program"})
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantSignal syscall.Signal
		wantStderr string
	}{
		{"success", []string{"/probe", "true"}, 0, 0, ""},
		{"exit code", []string{"/probe", "exit", "3"}, 3, 0, ""},
		{"signal", []string{"/probe", "signal", "15"}, 128 + 15, syscall.SIGTERM, ""},
		{"missing program", []string{"/no/such/program"}, 127, 0, `cannot execute "/no/such/program"`},
		{"not in PATH", []string{"no-such-program"}, 127, 0, "not found in PATH"},
		{"not executable", []string{"/data/data"}, 127, 0, "permission denied"},
		{"found in PATH", []string{"probe", "true"}, 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := probeSpec(t)
			spec.Args = tc.args
			spec.Env = []string{"PATH=/nowhere:/"}
			spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Bind, Source: notExec, Target: "/data", ReadOnly: true})
			o := run(context.Background(), t, r, spec)
			if o.err != nil {
				t.Fatalf("Run: %v", o.err)
			}
			if o.res.ExitCode != tc.wantCode || o.res.Signal != tc.wantSignal {
				t.Errorf("got exit %d signal %v, want exit %d signal %v (stderr %q)", o.res.ExitCode, o.res.Signal, tc.wantCode, tc.wantSignal, o.stderr)
			}
			if !strings.Contains(o.stderr, tc.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", o.stderr, tc.wantStderr)
			}
			if o.res.TimedOut || o.res.OutputTooLarge {
				t.Errorf("got %+v, want neither timed out nor output too large", o.res)
			}
		})
	}
}

func TestOutputFiles(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	r := newRunner(t, sandbox.Options{})
	t.Run("separate", func(t *testing.T) {
		o := mustRun(t, r, probeSpec(t, "echo", "hello"))
		if o.stdout != "hello\n" || o.stderr != "to stderr\n" {
			t.Errorf("got stdout %q stderr %q, want %q and %q", o.stdout, o.stderr, "hello\n", "to stderr\n")
		}
	})
	t.Run("same file", func(t *testing.T) {
		spec := probeSpec(t, "echo", "hello")
		spec.Stderr = spec.Stdout
		o := mustRun(t, r, spec)
		if o.stdout != "hello\nto stderr\n" {
			t.Errorf("got %q, want both streams in order", o.stdout)
		}
	})
}

func TestSpecErrors(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	r := newRunner(t, sandbox.Options{})
	for _, tc := range []struct {
		name        string
		mutate      func(*sandbox.Spec)
		wantInvalid bool
		wantMessage string
	}{
		{"no args", func(s *sandbox.Spec) { s.Args = nil }, true, "no command"},
		{"relative dir", func(s *sandbox.Spec) { s.Dir = "work" }, true, "working directory"},
		{"relative target", func(s *sandbox.Spec) { s.Mounts[0].Target = "probe" }, true, "mount target"},
		{"overlay without lower", func(s *sandbox.Spec) {
			s.Mounts = append(s.Mounts, sandbox.Mount{Kind: sandbox.Overlay, Target: "/o"})
		}, true, "no lower"},
		{"missing bind source", func(s *sandbox.Spec) { s.Mounts[0].Source = "/no/such/source" }, false, "/no/such/source"},
		{"missing working directory", func(s *sandbox.Spec) { s.Dir = "/no/such/dir" }, false, "/no/such/dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := probeSpec(t, "true")
			tc.mutate(&spec)
			_, err := r.Run(context.Background(), spec)
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			if got := errors.Is(err, sandbox.ErrInvalidSpec); got != tc.wantInvalid {
				t.Errorf("errors.Is(%v, ErrInvalidSpec) = %v, want %v", err, got, tc.wantInvalid)
			}
			if !strings.Contains(err.Error(), tc.wantMessage) {
				t.Errorf("error %q does not mention %q", err, tc.wantMessage)
			}
		})
	}
}

// processesWithMarker lists host processes whose command line contains
// marker.
func processesWithMarker(t testing.TB, marker string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), marker) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

func newMarker(t testing.TB) string {
	return "marker-" + strconv.Itoa(os.Getpid()) + "-" + strings.ReplaceAll(t.Name(), "/", "-")
}

// waitForOutput polls the file at path until it contains want or ctx ends,
// and reports whether it did.
func waitForOutput(ctx context.Context, path, want string) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), want) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

func TestProcessTreeIsKilled(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	r := newRunner(t, sandbox.Options{})
	for _, tc := range []struct {
		name    string
		sleep   string // how long the command sleeps after it spawned
		timeout time.Duration
		// cancelOnSpawn cancels the run once the background process runs.
		cancelOnSpawn bool
		wantTimedOut  bool
		wantErr       error
		wantExit      int
	}{
		{name: "background process left at exit", sleep: "0s", wantExit: 0},
		// Long enough for the command to start the background process
		// first, which the test checks.
		{name: "timeout", sleep: "1h", timeout: 3 * time.Second, wantTimedOut: true, wantExit: 137},
		{name: "cancellation", sleep: "1h", cancelOnSpawn: true, wantErr: context.Canceled, wantExit: 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := newMarker(t)
			spec := probeSpec(t, "spawn", marker, tc.sleep)
			spec.Timeout = tc.timeout
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			runCtx := context.Background()
			if tc.cancelOnSpawn {
				runCtx = ctx
				go func() {
					if waitForOutput(ctx, spec.Stdout, "spawned") {
						cancel()
					}
				}()
			}
			o := run(runCtx, t, r, spec)
			if !errors.Is(o.err, tc.wantErr) {
				t.Fatalf("Run: got error %v, want %v (stderr %q)", o.err, tc.wantErr, o.stderr)
			}
			if o.res.TimedOut != tc.wantTimedOut || o.res.ExitCode != tc.wantExit {
				t.Errorf("got %+v, want TimedOut %v, exit %d", o.res, tc.wantTimedOut, tc.wantExit)
			}
			if !strings.Contains(o.stdout, "spawned") {
				t.Errorf("the command ended before it started its background process (stdout %q)", o.stdout)
			}
			if left := processesWithMarker(t, marker); len(left) > 0 {
				t.Errorf("processes survived the sandbox: %v", left)
			}
		})
	}
}

// warnings is a log writer that keeps the lines of level WARN, as many as
// fit in the channel.
type warnings chan string

func (w warnings) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("level=WARN")) {
		select {
		case w <- string(b):
		default:
		}
	}
	return len(b), nil
}

// TestForkBomb runs a fork bomb under a pids limit: the sandbox ends it
// with its timeout and leaves no process behind either way; the limit
// stops its forks where the cgroup v2 pids controller is available, and
// NewRunner says it is not enforced where it is not.
func TestForkBomb(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	warned := make(warnings, 16)
	r := newRunnerLogging(t, sandbox.Options{}, warned)
	_, _, pidsEnforced := r.EnforcesLimits()
	marker := newMarker(t)
	spec := probeSpec(t, "forkbomb", marker)
	spec.Timeout = 2 * time.Second
	spec.Limits = sandbox.Limits{Pids: 64}
	o := run(context.Background(), t, r, spec)
	if o.err != nil || !o.res.TimedOut || o.res.ExitCode != 137 {
		t.Errorf("got %+v, %v; want TimedOut, exit 137 (stderr %q)", o.res, o.err, o.stderr)
	}
	if left := processesWithMarker(t, marker); len(left) > 0 {
		t.Errorf("%d processes survived the sandbox, first %v", len(left), left[0])
	}
	t.Run("limit enforced", func(t *testing.T) {
		if !pidsEnforced {
			t.Skip("the cgroup v2 pids controller is not available on this host")
		}
		if !strings.Contains(o.stdout, "fork failed") {
			t.Errorf("pids limit %d not hit; stdout %q", spec.Limits.Pids, o.stdout)
		}
		if !o.res.PidsLimitHit {
			t.Errorf("the result does not say the pids limit was hit: %+v", o.res)
		}
	})
	t.Run("limit reported unenforced", func(t *testing.T) {
		if pidsEnforced {
			t.Skip("the cgroup v2 pids controller is available on this host")
		}
		var lines []string
		for len(warned) > 0 {
			line := <-warned
			if strings.Contains(line, "pids") {
				return
			}
			lines = append(lines, line)
		}
		t.Errorf("NewRunner did not warn that the pids limit is not enforced; warnings: %q", lines)
	})
}

func TestOutputTooLarge(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	r := newRunner(t, sandbox.Options{})
	const limit = 1 << 20
	spec := probeSpec(t, "spew")
	spec.MaxOutputBytes = limit
	// The writer never stops by itself: the cap must kill it, well before
	// the timeout would.
	spec.Timeout = time.Minute
	o := run(context.Background(), t, r, spec)
	if o.err != nil {
		t.Fatalf("Run: %v", o.err)
	}
	if !o.res.OutputTooLarge || o.res.TimedOut || o.res.ExitCode != 137 {
		t.Errorf("got %+v, want OutputTooLarge, not TimedOut, exit 137", o.res)
	}
	if len(o.stdout) != limit {
		t.Errorf("stdout file has %d bytes, want it truncated to %d", len(o.stdout), limit)
	}
}

// TestCommandRunsAtNiceZero: the init sets up at a raised priority, but the
// command must compete like any other process.
func TestCommandRunsAtNiceZero(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	r := newRunner(t, sandbox.Options{})
	for i := range 3 { // pre-started and fresh inits alike
		o := mustRun(t, r, probeSpec(t, "cat", "/proc/self/stat"))
		_, rest, ok := strings.Cut(o.stdout, ") ")
		fields := strings.Fields(rest)
		if !ok || len(fields) < 17 {
			t.Fatalf("run %d: cannot parse /proc/self/stat %q", i, o.stdout)
		}
		// Field 19 of stat is nice; fields[0] is field 3.
		if nice := fields[16]; nice != "0" {
			t.Errorf("run %d: command runs at nice %s, want 0", i, nice)
		}
	}
}

func TestTimings(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	r := newRunner(t, sandbox.Options{})
	const sleep = 200 * time.Millisecond
	start := time.Now()
	o := mustRun(t, r, probeSpec(t, "sleep", sleep.String()))
	elapsed := time.Since(start)
	tm := o.res.Timings
	for _, c := range []struct {
		name string
		d    time.Duration
	}{{"Setup", tm.Setup}, {"Spawn", tm.Spawn}, {"Run", tm.Run}, {"Teardown", tm.Teardown}} {
		if c.d <= 0 {
			t.Errorf("%s = %v, want a positive duration", c.name, c.d)
		}
	}
	if tm.Run < sleep {
		t.Errorf("Run = %v, want at least the command's sleep, %v", tm.Run, sleep)
	}
	// The stages follow each other within Run, on the same clock.
	if sum := tm.Setup + tm.Spawn + tm.Run + tm.Teardown; sum > elapsed {
		t.Errorf("Setup+Spawn+Run+Teardown = %v, longer than the whole Run call, %v (%+v)", sum, elapsed, tm)
	}
}

// waitForPrestartedInits waits until r has n pre-started inits waiting: each
// has then copied the mount namespace, at clone. It asks r, not /proc:
// other tests' daemons run inits too.
func waitForPrestartedInits(t testing.TB, r *sandbox.Runner, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.Prestarted() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d pre-started inits did not come up; %d did", n, r.Prestarted())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTimingsTellPrestarted: Timings.Prestarted says whether the action got
// a waiting init.
func TestTimingsTellPrestarted(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	for _, tc := range []struct {
		name string
		opts sandbox.Options
		want bool
	}{
		{"pool", sandbox.Options{}, true},
		{"no pool", sandbox.Options{Prestart: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, tc.opts)
			if tc.want {
				// The pool fills in the background.
				waitForPrestartedInits(t, r, 1)
			}
			if got := mustRun(t, r, probeSpec(t, "true")).res.Timings.Prestarted; got != tc.want {
				t.Errorf("Prestarted = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTextFileBusy covers golang/go#22315: a descriptor open for writing
// on a fresh executable makes exec fail with ETXTBSY while any process
// holds it; the sandbox retries.
func TestTextFileBusy(t *testing.T) {
	requireRoot(t)
	requireProbe(t)
	r := newRunner(t, sandbox.Options{})
	program, err := os.ReadFile(probePath)
	if err != nil {
		t.Fatal(err)
	}
	writeProgram := func(t *testing.T) string {
		dir := mkdir(t, 0o755, nil)
		path := filepath.Join(dir, "prog")
		if err := os.WriteFile(path, program, 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	specFor := func(t *testing.T, path string) sandbox.Spec {
		spec := probeSpec(t, "true")
		spec.Args[0] = "/fresh"
		spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Bind, Source: path, Target: "/fresh", ReadOnly: true})
		return spec
	}
	t.Run("held open for writing until the first exec failed", func(t *testing.T) {
		path := writeProgram(t)
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		execs := closeOnSecondExec(t, path, w)
		mustRun(t, r, specFor(t, path))
		// At least two: the first refused while w was open, then retries
		// until one succeeds. More than one retry happens when a process
		// the test binary forked in the meantime (a pre-started init) still
		// held its copy of w when the second exec began.
		if n := execs(); n < 2 {
			t.Errorf("the program was executed %d times, want at least 2: one refused while it was open for writing, then a retry", n)
		}
	})
	t.Run("held open for writing too long", func(t *testing.T) {
		path := writeProgram(t)
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		o := run(context.Background(), t, r, specFor(t, path))
		if o.err != nil || o.res.ExitCode != 127 || !strings.Contains(o.stderr, "text file busy") {
			t.Errorf("got %+v, %v, stderr %q; want exit 127 and text file busy", o.res, o.err, o.stderr)
		}
	})
	t.Run("concurrent fresh executables", func(t *testing.T) {
		const n = 50
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := writeProgram(t)
				spec := specFor(t, path)
				o := run(context.Background(), t, r, spec)
				if o.err != nil || o.res.ExitCode != 0 {
					errs <- fmt.Sprintf("run %d: %+v, %v, stderr %q", i, o.res, o.err, o.stderr)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})
}

// closeOnSecondExec closes w when a second exec of the file at path
// begins, so that the first one fails with ETXTBSY and the second one
// succeeds, and returns the count of execs of the file begun until now.
// It watches execs with fanotify permission events, which the kernel sends
// as an exec opens the file, before it checks for writers.
func closeOnSecondExec(t *testing.T, path string, w *os.File) (execs func() int) {
	t.Helper()
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		t.Skipf("fanotify permission events unavailable: %v", err)
	}
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD, unix.FAN_OPEN_EXEC_PERM, unix.AT_FDCWD, path); err != nil {
		unix.Close(fd)
		t.Skipf("fanotify permission events unavailable: %v", err)
	}
	// Non-blocking, so that closing f ends a pending Read.
	f := os.NewFile(uintptr(fd), "fanotify")
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			nr, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+int(unsafe.Sizeof(unix.FanotifyEventMetadata{})) <= nr; {
				ev := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&buf[off]))
				off += int(ev.Event_len)
				if ev.Mask&unix.FAN_OPEN_EXEC_PERM != 0 {
					mu.Lock()
					n++
					if n == 2 {
						w.Close()
					}
					mu.Unlock()
				}
				resp := unix.FanotifyResponse{Fd: ev.Fd, Response: unix.FAN_ALLOW}
				_, _ = f.Write(unsafe.Slice((*byte)(unsafe.Pointer(&resp)), unsafe.Sizeof(resp)))
				unix.Close(int(ev.Fd))
			}
		}
	}()
	t.Cleanup(func() {
		f.Close() // allows any exec still waiting
		<-done
	})
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}
