//go:build linux

package qemu

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// The parent-death signal fires when the thread that forked the child
// exits, not the process; Go retires threads freely. So every QEMU is
// forked from one goroutine locked to its thread that never returns: that
// thread lives as long as the daemon, and a QEMU dies with the daemon,
// even when the daemon is killed with SIGKILL.
var (
	starterOnce sync.Once
	startReqs   chan startReq
)

type startReq struct {
	cmd  *exec.Cmd
	done chan error
}

// startDying starts cmd so that it is killed when this process dies, in
// its own process group so that a terminal's ^C reaches only the daemon,
// which then shuts the guest down cleanly.
func startDying(cmd *exec.Cmd) error {
	starterOnce.Do(func() {
		startReqs = make(chan startReq)
		go func() {
			runtime.LockOSThread()
			// Never unlocked and never returns: see above.
			for r := range startReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
	r := startReq{cmd: cmd, done: make(chan error, 1)}
	startReqs <- r
	return <-r.done
}
