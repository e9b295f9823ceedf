//go:build linux

package doctor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/actiond/actiond/go/sandbox"
)

// actionTimeout bounds the sandbox check's action, a shell line.
const actionTimeout = 30 * time.Second

// actionScript reads a file of the overlay's lower layer and writes one
// through it, as every action does with its inputs and outputs.
const actionScript = `read l < /doctor/input && test "$l" = actiond && echo written > /doctor/output`

// sandboxAction runs one action with serve's own sandbox runner: an
// overlay on an input directory, the host's /usr (and /lib*, /bin) for a
// shell. It also returns the cgroup v2 check, from what that runner found.
func sandboxAction(ctx context.Context, root string) (action, limits Check) {
	action = Check{Name: "sandbox runs an action", Impact: serveOnly(Blocks)}
	limits = Check{Name: "cgroup v2 limits", Impact: serveOnly(Degrades)}
	w := &warnings{}
	runner, err := sandbox.NewRunner(slog.New(w), sandbox.Options{Prestart: -1})
	if err != nil {
		action.State, action.Detail = Missing, fmt.Sprintf("cannot set up the sandbox runner: %v", err)
		action.Fix = "see the lines above"
		limits.State, limits.Detail = Skipped, "no sandbox runner to ask"
		return action, limits
	}
	defer runner.Close()
	limits = cgroupLimits(runner, w)

	scratch, err := scratchDir(root)
	if err != nil {
		action.State, action.Detail, action.Fix = Missing, err.Error(), "pass a writable --root"
		return action, limits
	}
	defer os.RemoveAll(scratch)
	lower, upper, work := filepath.Join(scratch, "lower"), filepath.Join(scratch, "upper"), filepath.Join(scratch, "work")
	for _, d := range []string{lower, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			action.State, action.Detail, action.Fix = Missing, err.Error(), "pass a writable --root"
			return action, limits
		}
	}
	// The action runs as 65534; the top of the overlay is upper's root.
	if err := os.Chmod(upper, 0o777); err != nil {
		action.State, action.Detail, action.Fix = Missing, err.Error(), "pass a writable --root"
		return action, limits
	}
	if err := os.WriteFile(filepath.Join(lower, "input"), []byte("actiond\n"), 0o644); err != nil {
		action.State, action.Detail, action.Fix = Missing, err.Error(), "pass a writable --root"
		return action, limits
	}
	mounts := []sandbox.Mount{{Kind: sandbox.Overlay, Target: "/doctor", Lower: []string{lower}, Upper: upper, Work: work}}
	for _, d := range []string{"/usr", "/bin", "/lib", "/lib64"} {
		if _, err := os.Stat(d); err == nil {
			mounts = append(mounts, sandbox.Mount{Kind: sandbox.Bind, Source: d, Target: d, ReadOnly: true})
		}
	}
	stderr := filepath.Join(scratch, "stderr")
	res, err := runner.Run(ctx, sandbox.Spec{
		Args:    []string{"sh", "-c", actionScript},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Dir:     "/doctor",
		Mounts:  mounts,
		Stdout:  stderr,
		Stderr:  stderr,
		Timeout: actionTimeout,
	})
	mode := "root"
	if runner.Rootless() {
		mode = "rootless"
	}
	switch {
	case err != nil:
		action.State, action.Detail = Missing, fmt.Sprintf("setting up its sandbox (%s) failed: %v", mode, err)
	case res.ExitCode != 0:
		out, _ := os.ReadFile(stderr)
		action.State, action.Detail = Missing, fmt.Sprintf("its shell exited with %d in its sandbox (%s): %s", res.ExitCode, mode, firstLine(out))
	default:
		if b, err := os.ReadFile(filepath.Join(upper, "output")); err != nil || string(b) != "written\n" {
			action.State, action.Detail = Missing, fmt.Sprintf("its output did not reach the overlay's upper directory (%v)", errOr(err, fmt.Sprintf("got %q", b)))
		} else {
			action.Detail = fmt.Sprintf("a shell read an input and wrote an output through an overlay, %s, set up in %v", mode, res.Timings.Setup.Round(time.Millisecond))
		}
	}
	if action.State == Missing {
		action.Fix = "fix the missing lines above; if none is, run `serve --log-level debug` and see its sandbox errors"
	}
	return action, limits
}

// scratchDir is a new directory under root when root exists (the file
// system serve's overlays use), else in the temporary directory.
func scratchDir(root string) (string, error) {
	parent := ""
	if st, err := os.Stat(root); err == nil && st.IsDir() {
		parent = root
	}
	return os.MkdirTemp(parent, "doctor-")
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if s == "" {
		return "no output"
	}
	return s
}

// cgroupLimits reports which Limits the runner enforces; w holds what it
// logged about them.
func cgroupLimits(r *sandbox.Runner, w *warnings) Check {
	c := Check{Name: "cgroup v2 limits", Impact: serveOnly(Degrades)}
	memory, cpu, pids := r.EnforcesLimits()
	var missing []string
	for _, l := range []struct {
		name string
		ok   bool
	}{{"memory", memory}, {"cpu", cpu}, {"pids", pids}} {
		if !l.ok {
			missing = append(missing, l.name)
		}
	}
	if len(missing) == 0 {
		c.Detail = "the memory, cpu and pids controllers are delegated: action limits are enforced"
		return c
	}
	c.State = Missing
	c.Detail = "no cgroup v2 " + strings.Join(missing, ", ") + " controller"
	if dir := w.attr("cgroup"); dir != "" {
		c.Detail += " for " + dir
	}
	if err := w.attr("error"); err != "" {
		c.Detail += " (" + err + ")"
	}
	c.Without = "cgroup v2 " + strings.Join(missing, ", ") + " limits are unavailable: actions still run, their limits are not enforced"
	c.Fix = "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and its memory, cpu and pids controllers; rootless, run serve as a systemd user service with Delegate=yes"
	return c
}
