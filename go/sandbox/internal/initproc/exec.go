//go:build linux

package initproc

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// execRetryBudget bounds retries of ETXTBSY: another process forked by the
// daemon can briefly hold a write descriptor of a freshly written
// executable between its fork and exec (golang/go#22315).
const execRetryBudget = time.Second

// runCommand forks and execs the command with its credentials (see
// commandAttr), reports its start, reaps every process until the command
// ends, kills and reaps what it left behind and sends the last report. It
// returns the init's exit status.
func (si *sandboxInit) runCommand() int {
	cfg := &si.cfg
	path, err := lookPath(cfg.Args[0], cfg.Env, cfg.Dir)
	if err != nil {
		return si.execFailed(err)
	}
	if !si.resetOnFork {
		// The command would inherit this thread's nice value.
		_ = unix.Setpriority(unix.PRIO_PROCESS, 0, 0)
	}
	attr := commandAttr(cfg)
	forked := MonoNow()
	pid, err := forkExec(path, cfg.Args, attr)
	if err != nil {
		return si.execFailed(explainExecError(path, err))
	}
	si.send(Report{Kind: ReportStarted, Mono: MonoNow(), Forked: forked, Configured: si.configured, Mounted: si.mounted})
	exit, err := reapUntil(pid)
	if err != nil {
		return si.setupFailed(fmt.Errorf("wait for command: %w", err))
	}
	// Kill what the command left behind and reap it all, so that no
	// process of the action is left when the daemon reads the report and
	// collects the outputs. kill(-1) in a pid namespace reaches every
	// process in it but its init.
	_ = unix.Kill(-1, unix.SIGKILL)
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil { // ECHILD: nothing is left
			break
		}
	}
	si.finish(exit)
	return exit.ExitCode
}

// commandAttr is how the command is started: with the environment of cfg,
// the init's stdin, stdout and stderr and no other descriptor, and as
// cfg.UID and cfg.GID without supplementary groups (the switch clears the
// init's remaining capabilities). In rootless mode the init already is
// 65534, the only id its user namespace maps, and the command keeps that;
// it loses the init's capabilities at exec, as it is not root in the
// namespace (0 is unmapped) and the bounding, inheritable and ambient sets
// are empty.
func commandAttr(cfg *Config) *syscall.ProcAttr {
	attr := &syscall.ProcAttr{
		Env:   cfg.Env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{},
	}
	if !cfg.Rootless {
		attr.Sys.Credential = &syscall.Credential{Uid: uint32(cfg.UID), Gid: uint32(cfg.GID), Groups: []uint32{}}
	}
	return attr
}

// forkExec starts path, retrying ETXTBSY for up to execRetryBudget.
// syscall.ForkExec rather than os.StartProcess: the latter probes pidfd
// support with an extra fork the first time, i.e. in every init.
func forkExec(path string, args []string, attr *syscall.ProcAttr) (int, error) {
	deadline := time.Now().Add(execRetryBudget)
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		pid, err := syscall.ForkExec(path, args, attr)
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || time.Now().After(deadline) {
			return pid, err
		}
		time.Sleep(backoff)
	}
}

// reapUntil reaps every process (the init is PID 1: orphans are
// re-parented to it) until pid ends, and returns pid's exit report.
func reapUntil(pid int) (Report, error) {
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return Report{}, err
		}
		if wpid != pid {
			continue
		}
		exit := Report{Kind: ReportExit, ExitCode: ws.ExitStatus(), Mono: MonoNow()}
		if ws.Signaled() {
			exit.Signal = int(ws.Signal())
			exit.ExitCode = 128 + exit.Signal
		}
		return exit, nil
	}
}

func (si *sandboxInit) execFailed(err error) int {
	msg := fmt.Sprintf("cannot execute %q: %v", si.cfg.Args[0], err)
	fmt.Fprintf(os.Stderr, "actiond sandbox: %s\n", msg)
	si.finish(Report{Kind: ReportExec, Error: msg})
	return 127
}

// explainExecError makes the common ENOENT on an existing file say what is
// missing: the ELF interpreter of a dynamically linked program, which the
// empty sandbox root only has when the action selects a libc runtime.
func explainExecError(path string, err error) error {
	if !errors.Is(err, syscall.ENOENT) {
		return err
	}
	if _, statErr := os.Stat(path); statErr != nil {
		return err
	}
	interp, ok := elfInterpreter(path)
	if !ok {
		return err
	}
	return fmt.Errorf("%w: its ELF interpreter %s is not in the sandbox; a dynamically linked program needs a runtime, selected with the exec property libc (for example libc=glibc2.36)", err, interp)
}

// elfInterpreter returns the PT_INTERP path of an ELF executable.
func elfInterpreter(path string) (string, bool) {
	f, err := elf.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(prog.Open(), 4096))
		if err != nil {
			return "", false
		}
		return strings.TrimRight(string(b), "\x00"), true
	}
	return "", false
}

// lookPath resolves argv0 like execvp: a name with a slash is used as is,
// otherwise each PATH entry (from env, else defaultPath; empty = dir) is
// tried for an executable regular file.
func lookPath(argv0 string, env []string, dir string) (string, error) {
	if strings.Contains(argv0, "/") {
		return argv0, nil
	}
	pathList := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathList = v
		}
	}
	for _, d := range strings.Split(pathList, ":") {
		if d == "" {
			d = dir
		}
		candidate := path.Join(d, argv0)
		var st unix.Stat_t
		if unix.Stat(candidate, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("not found in PATH %q", pathList)
}
