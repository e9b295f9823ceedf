//go:build linux

package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/actiond/actiond/go/vm"
)

// ProbeTimeout bounds the KVM probe. A kernel that boots under KVM reaches
// its "no root filesystem" panic well within it; where /dev/kvm exists but
// never runs a guest to the end (nested setups), the probe gives up here.
const ProbeTimeout = 5 * time.Second

// Verdict is the accelerator a probe chose and why.
type Verdict struct {
	Accel  Accel
	Reason string
}

// probeRunner runs the probe guest under KVM and returns nil when it ran to
// its end. It is a variable of the prober so that tests can stand in.
type probeRunner func(ctx context.Context) error

var (
	verdictMu sync.Mutex
	verdicts  = map[string]Verdict{}
)

// ProbeAccel chooses KVM when it really runs a guest and TCG otherwise.
// /dev/kvm being there is not enough: on some hosts KVM starts guests that
// then hang. So the probe boots kernel under KVM without an initramfs and
// with panic=-1: a working KVM runs it to the panic, the reboot and QEMU's
// exit within ProbeTimeout. The verdict is cached per binary, architecture
// and kernel for the life of the process.
func ProbeAccel(ctx context.Context, binary string, arch vm.Arch, kernel string) Verdict {
	if binary == "" {
		binary = DefaultBinary(arch)
	}
	key := binary + "\x00" + string(arch) + "\x00" + kernel
	verdictMu.Lock()
	defer verdictMu.Unlock()
	if v, ok := verdicts[key]; ok {
		return v
	}
	v := probe(ctx, arch, ProbeTimeout, func(ctx context.Context) error { return runProbeGuest(ctx, binary, arch, kernel) })
	verdicts[key] = v
	return v
}

func probe(ctx context.Context, arch vm.Arch, timeout time.Duration, run probeRunner) Verdict {
	if arch != vm.HostArch() {
		return Verdict{TCG, fmt.Sprintf("KVM cannot run an %s guest on an %s host", arch, vm.HostArch())}
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return Verdict{TCG, fmt.Sprintf("/dev/kvm is not usable (%v)", errors.Unwrap(err))}
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch err := run(ctx); {
	case err == nil:
		return Verdict{KVM, "a probe guest booted under KVM"}
	case errors.Is(err, context.DeadlineExceeded):
		return Verdict{TCG, fmt.Sprintf("/dev/kvm is there but a probe guest did not finish booting under KVM within %v", timeout)}
	default:
		return Verdict{TCG, fmt.Sprintf("a probe guest failed under KVM (%v)", err)}
	}
}

// runProbeGuest boots kernel under KVM with nothing to mount: it panics,
// panic=-1 reboots it and -no-reboot makes QEMU exit 0.
func runProbeGuest(ctx context.Context, binary string, arch vm.Arch, kernel string) error {
	a := append(baseArgs(arch, KVM), "-m", "128", "-smp", "1", "-kernel", kernel,
		"-append", "panic=-1 quiet root=/dev/actiond-probe-none")
	cmd := exec.Command(binary, a...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := startDying(cmd); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return nil
	case <-ctx.Done():
		// A vCPU stuck in KVM still dies on SIGKILL; do not wait for it
		// longer than it takes to reap.
		_ = cmd.Process.Kill()
		<-exited
		return ctx.Err()
	}
}
