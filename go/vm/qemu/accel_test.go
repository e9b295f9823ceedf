//go:build linux

package qemu

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/actiond/actiond/go/vm"
	"github.com/actiond/actiond/go/vm/vmtest"
)

func requireKVMDevice(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("/dev/kvm is not usable: %v", err)
	}
	f.Close()
}

func TestProbeVerdicts(t *testing.T) {
	requireKVMDevice(t)
	tests := []struct {
		name       string
		run        probeRunner
		want       Accel
		wantReason string
	}{
		{"guest boots", func(ctx context.Context) error { return nil }, KVM, "booted under KVM"},
		{"guest hangs", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, TCG, "did not finish booting under KVM within"},
		{"qemu fails", func(ctx context.Context) error { return errors.New("Could not access KVM kernel module") }, TCG, "Could not access KVM kernel module"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := probe(context.Background(), vm.HostArch(), 10*time.Millisecond, tc.run)
			if v.Accel != tc.want || !strings.Contains(v.Reason, tc.wantReason) {
				t.Errorf("got %+v, want %s with a reason containing %q", v, tc.want, tc.wantReason)
			}
		})
	}
}

func TestProbeOtherArchIsTCG(t *testing.T) {
	other := vm.ARM64
	if vm.HostArch() == vm.ARM64 {
		other = vm.X86_64
	}
	v := probe(context.Background(), other, ProbeTimeout, func(ctx context.Context) error {
		t.Error("the probe ran a guest for a foreign architecture")
		return nil
	})
	if v.Accel != TCG || !strings.Contains(v.Reason, "cannot run") {
		t.Errorf("got %+v, want TCG because KVM cannot run a foreign guest", v)
	}
}

// TestProbeAccelHere runs the real probe with the guest kernel. On the
// development machine /dev/kvm exists but hangs guests, so it must answer
// TCG there; set ACTIOND_TEST_EXPECT_ACCEL to the accelerator this host
// should get to check it.
func TestProbeAccelHere(t *testing.T) {
	bin := requireQEMU(t, vm.X86_64)
	kernel := vmtest.Kernel(t)
	v := ProbeAccel(context.Background(), bin, vm.X86_64, kernel)
	t.Logf("verdict: %+v", v)
	if v.Reason == "" {
		t.Error("no reason given")
	}
	if want := os.Getenv("ACTIOND_TEST_EXPECT_ACCEL"); want != "" && string(v.Accel) != want {
		t.Errorf("accelerator %s, want %s", v.Accel, want)
	}
	if again := ProbeAccel(context.Background(), bin, vm.X86_64, kernel); again != v {
		t.Errorf("second probe %+v differs from the cached %+v", again, v)
	}
}
