//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/sandbox/internal/initproc"
)

// initExe is how the daemon re-executes itself as the sandbox init.
const initExe = "/proc/self/exe"

// initHandle is the daemon's handle on a started sandbox init; until the
// init gets its config it waits, already in its namespaces.
type initHandle struct {
	proc       *os.Process
	configW    *os.File // nil once the config is sent
	reportR    *os.File
	prestarted bool // taken from the pool rather than started for its action
}

// startInit starts an init. With config it is sent before the init starts,
// so the init never waits for the daemon to be scheduled again; without,
// the init waits in the pool. cgroupFD >= 0 starts it in that cgroup.
func (r *Runner) startInit(cgroupFD int, config []byte) (*initHandle, error) {
	configR, configW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create config pipe: %w", err)
	}
	defer configR.Close()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		configW.Close()
		return nil, fmt.Errorf("create report pipe: %w", err)
	}
	defer reportW.Close()
	h := &initHandle{configW: configW, reportR: reportR}
	if config != nil {
		if err := h.sendConfig(config); err != nil {
			reportR.Close()
			return nil, err
		}
	}
	sys := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWCGROUP,
		// If the daemon dies, its actions die with it (the whole pid
		// namespace goes with its init). Caveat: the signal comes when the
		// daemon *thread* that forked exits, which Go only does for a
		// goroutine that exits while locked to its thread.
		Pdeathsig: syscall.SIGKILL,
	}
	// Stdout and stderr are opened by the init itself, from the config.
	files := []*os.File{r.devNull, r.devNull, r.devNull, configR, reportW}
	mode := initproc.ModeRoot
	if r.rootless {
		// The daemon's uid and gid become the action's 65534 (nobody and
		// nogroup, as in root mode); 0 stays unmapped, so nothing in the
		// sandbox is root and setuid(0) fails. The init runs as 65534 too
		// and gets the capabilities of the namespace for its mounts as
		// ambient ones, which survive its exec; it drops them all before
		// it forks the command (dropCapabilities), so the command, neither
		// root nor given any, has none.
		sys.Cloneflags |= syscall.CLONE_NEWUSER
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: nobody, HostID: os.Geteuid(), Size: 1}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: nobody, HostID: os.Getegid(), Size: 1}}
		sys.GidMappingsEnableSetgroups = false
		sys.AmbientCaps = r.allCaps
		mode = initproc.ModeRootless
	}
	if cgroupFD >= 0 {
		sys.UseCgroupFD, sys.CgroupFD = true, cgroupFD
	}
	h.proc, err = os.StartProcess(initExe, []string{"actiond-sandbox-init", InitArg, r.rootDir, mode}, &os.ProcAttr{
		Env:   []string{},
		Files: files,
		Sys:   sys,
	})
	if err != nil {
		if h.configW != nil {
			h.configW.Close()
		}
		reportR.Close()
		return nil, fmt.Errorf("start sandbox init: %w", err)
	}
	return h, nil
}

// sendConfig writes the config and closes the pipe. When it does not fit
// in the pipe buffer even after growing it, a goroutine writes it while the
// init reads; an error there means the init died, and its exit says why.
func (h *initHandle) sendConfig(b []byte) error {
	w := h.configW
	h.configW = nil
	size, err := unix.FcntlInt(w.Fd(), syscall.F_GETPIPE_SZ, 0)
	if err == nil && size < len(b) {
		size, err = unix.FcntlInt(w.Fd(), syscall.F_SETPIPE_SZ, len(b))
	}
	if err == nil && size >= len(b) {
		_, err := w.Write(b)
		w.Close()
		if err != nil {
			return fmt.Errorf("write sandbox config: %w", err)
		}
		return nil
	}
	go func() {
		_, _ = w.Write(b)
		w.Close()
	}()
	return nil
}

// discard kills an unused init and reaps it.
func (h *initHandle) discard() {
	if h.configW != nil {
		h.configW.Close()
	}
	h.reportR.Close()
	_ = h.proc.Kill()
	_, _ = h.proc.Wait()
}

// knownCapabilities lists the capabilities 0 to CAP_LAST_CAP of the running
// kernel: raising one it does not know would fail the init's start.
func knownCapabilities() ([]uintptr, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return nil, fmt.Errorf("read the last capability: %w", err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || last < 0 || last > 63 {
		return nil, fmt.Errorf("/proc/sys/kernel/cap_last_cap holds %q, not a capability number", b)
	}
	caps := make([]uintptr, last+1)
	for c := range caps {
		caps[c] = uintptr(c)
	}
	return caps, nil
}
