//go:build darwin

package doctor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Run checks this Mac for serve-vm (the only mode on macOS): Apple
// silicon, the Hypervisor framework, the binary's virtualization
// entitlement, the guest kernel and free disk.
func Run(ctx context.Context, opts Options) Report {
	r := Report{Modes: []string{ModeServeVM}}
	add := func(c Check) { r.Checks = append(r.Checks, c) }
	add(appleSilicon())
	add(hypervisor())
	add(entitlement(ctx))
	kernel, _ := guestKernel(ctx, opts)
	add(kernel)
	add(freeDisk(opts.Root, r.Modes))
	return r
}

// appleSilicon: the guest is arm64 and the Virtualization framework runs
// guests of the host's architecture only.
func appleSilicon() Check {
	c := Check{Name: "Apple silicon", Impact: vmOnly(Blocks)}
	if runtime.GOARCH == "arm64" {
		c.Detail = "arm64: runs the arm64 guest"
		return c
	}
	c.State, c.Detail = Missing, "this binary is "+runtime.GOARCH+"; the guest is arm64"
	c.Fix = "run darwin_actiond on an Apple silicon Mac, natively (not under Rosetta)"
	return c
}

func hypervisor() Check {
	c := Check{Name: "Hypervisor framework", Impact: vmOnly(Blocks)}
	v, err := unix.SysctlUint32("kern.hv_support")
	if err == nil && v == 1 {
		c.Detail = "kern.hv_support is 1"
		return c
	}
	c.State, c.Detail = Missing, fmt.Sprintf("kern.hv_support: %v", errOr(err, fmt.Sprint(v)))
	c.Fix = "use a Mac (not a VM without nested virtualisation) on macOS 13 or later"
	return c
}

// entitlement asks codesign whether this executable carries
// com.apple.security.virtualization, without which the framework refuses
// to start a VM.
func entitlement(ctx context.Context) Check {
	const name = "com.apple.security.virtualization"
	c := Check{Name: "virtualization entitlement", Impact: vmOnly(Blocks)}
	exe, err := os.Executable()
	if err != nil {
		c.State, c.Detail = Skipped, err.Error()
		return c
	}
	out, err := exec.CommandContext(ctx, "codesign", "-d", "--entitlements", "-", "--xml", exe).CombinedOutput()
	switch {
	case strings.Contains(string(out), name):
		c.Detail = exe + " is signed with " + name
		return c
	case err != nil && strings.Contains(string(out), "not signed"):
		c.State, c.Detail = Missing, exe+" is not signed"
	case err != nil:
		if _, lerr := exec.LookPath("codesign"); lerr != nil {
			c.State, c.Detail = Skipped, "no codesign to ask (xcode-select --install)"
			return c
		}
		c.State, c.Detail = Missing, fmt.Sprintf("codesign: %v: %s", err, oneLine(string(out)))
	default:
		c.State, c.Detail = Missing, exe+" is signed without "+name
	}
	c.Fix = "codesign --sign - --force --entitlements cmd/darwin_actiond/actiond.entitlements " + exe
	return c
}
