//go:build linux

package sandbox

import (
	"fmt"
	"log/slog"
	"os"
	"syscall"
)

// initProc is a started sandbox init; until it gets its config it waits,
// already in its namespaces.
type initProc struct {
	proc    *os.Process
	configW *os.File // nil once the config is sent
	reportR *os.File
}

// startInit starts an init. With config it is sent before the init starts,
// so the init never waits for the daemon to be scheduled again (2-4 ms on
// a busy machine); without, the init waits in the pool. cgroupFD >= 0
// starts it in that cgroup.
func (r *Runner) startInit(cgroupFD int, config []byte) (*initProc, error) {
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
	p := &initProc{configW: configW, reportR: reportR}
	if config != nil {
		if err := p.send(config); err != nil {
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
	if r.rootless {
		sys.Cloneflags |= syscall.CLONE_NEWUSER
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		sys.GidMappingsEnableSetgroups = false
	}
	mode := initModeRoot
	if r.rootless {
		mode = initModeRootless
	}
	if cgroupFD >= 0 {
		sys.UseCgroupFD, sys.CgroupFD = true, cgroupFD
	}
	p.proc, err = os.StartProcess(initExe, []string{"actiond-sandbox-init", InitArg, r.rootDir, mode}, &os.ProcAttr{
		Env:   []string{},
		Files: files,
		Sys:   sys,
	})
	if err != nil {
		if p.configW != nil {
			p.configW.Close()
		}
		reportR.Close()
		return nil, fmt.Errorf("start sandbox init: %w", err)
	}
	return p, nil
}

// send writes the config and closes the pipe. When it does not fit in the
// pipe buffer even after growing it, a goroutine writes it while the init
// reads; an error there means the init died, and its exit says why.
func (p *initProc) send(b []byte) error {
	w := p.configW
	p.configW = nil
	size, err := unixFcntl(w, syscall.F_GETPIPE_SZ, 0)
	if err == nil && size < len(b) {
		size, err = unixFcntl(w, syscall.F_SETPIPE_SZ, len(b))
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
func (p *initProc) discard() {
	if p.configW != nil {
		p.configW.Close()
	}
	p.reportR.Close()
	_ = p.proc.Kill()
	_, _ = p.proc.Wait()
}

// takePrestarted hands out a pre-started init with config sent, or nil, and
// starts a replacement in the background. A pre-started init that died
// meanwhile (the write fails) is dropped.
func (r *Runner) takePrestarted(config []byte) *initProc {
	if r.pool == nil {
		return nil
	}
	for {
		var p *initProc
		select {
		case p = <-r.pool:
		default:
			r.refill()
			return nil
		}
		r.refill()
		if err := p.send(config); err != nil {
			p.discard()
			continue
		}
		return p
	}
}

// refill starts one init for the pool in the background.
func (r *Runner) refill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.spawning+len(r.pool) >= cap(r.pool) {
		return
	}
	r.spawning++
	generation := r.generation
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		p, err := r.startInit(-1, nil)
		r.mu.Lock()
		r.spawning--
		if err != nil {
			r.mu.Unlock()
			r.logger.Warn("cannot pre-start a sandbox init", slog.String("error", err.Error()))
			return
		}
		if r.closed || generation != r.generation {
			stale := !r.closed
			r.mu.Unlock()
			p.discard()
			if stale {
				r.refill()
			}
			return
		}
		r.pool <- p // cannot block: spawning+len(pool) < cap(pool) held
		r.mu.Unlock()
	}()
}

// Refresh replaces the pre-started inits, including those starting now, so
// that the next actions see the host mounts made until now (see
// Options.Prestart).
func (r *Runner) Refresh() {
	if r.pool == nil {
		return
	}
	// Everything in the pool now started before the new generation; an
	// init starting now is discarded when it comes up (see refill).
	r.mu.Lock()
	r.generation++
	var stale []*initProc
drain:
	for {
		select {
		case p := <-r.pool:
			stale = append(stale, p)
		default:
			break drain
		}
	}
	r.mu.Unlock()
	for _, p := range stale {
		p.discard()
		r.refill()
	}
}
