//go:build linux

package doctor

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/vm"
	"github.com/actiond/actiond/go/vm/qemu"
)

// TestRunOnThisHost runs the real checks and compares each verdict with
// what the host offers, found here independently of the checks.
func TestRunOnThisHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the verdicts below are those of root mode")
	}
	kernel := os.Getenv("ACTIOND_TEST_KERNEL_X86_64")
	if kernel == "" {
		kernel = "/var/cache/actiond/kernel/latest-x86_64/bzImage"
	}
	if _, err := os.Stat(kernel); err != nil || vm.HostArch() != vm.X86_64 {
		kernel = ""
	}
	root := t.TempDir()
	r := Run(context.Background(), Options{Root: root, Kernel: kernel})
	var out strings.Builder
	if err := r.Write(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", out.String())

	check := func(name string) Check {
		t.Helper()
		for _, c := range r.Checks {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no check %q in the report", name)
		return Check{}
	}
	expect := func(name string, want bool, why string) {
		t.Helper()
		c := check(name)
		if got := c.State == OK; got != want {
			t.Errorf("%s: %v (%s), want ok=%v because %s", name, c.State, c.Detail, want, why)
		}
	}

	fs := procFilesystems(t)
	expect("root or user namespaces", true, "the test runs as root")
	for _, ns := range []struct{ check, file string }{
		{"mount namespace", "mnt"}, {"pid namespace", "pid"}, {"net namespace", "net"},
	} {
		_, err := os.Stat("/proc/self/ns/" + ns.file)
		expect(ns.check, err == nil, "/proc/self/ns/"+ns.file+" exists exactly when the kernel has them")
	}
	expect("overlayfs", fs["overlay"], "/proc/filesystems lists overlay exactly then")
	expect("squashfs", fs["squashfs"], "/proc/filesystems lists squashfs exactly then")
	_, err := os.Stat("/dev/loop-control")
	expect("loop devices", err == nil, "/dev/loop-control exists exactly then")
	expect("seccomp", procStatusHas(t, "Seccomp"), "/proc/self/status has a Seccomp field exactly then")

	controllers := cgroup2Controllers(t)
	full := slices.Contains(controllers, "memory") && slices.Contains(controllers, "cpu") && slices.Contains(controllers, "pids")
	expect("cgroup v2 limits", full, "the cgroup2 root's cgroup.controllers is "+strings.Join(controllers, " "))
	if !full {
		v := r.Verdict(ModeServe)
		if !strings.Contains(v.String(), "limits are unavailable: actions still run") {
			t.Errorf("serve verdict %q does not say that limits are unavailable and actions still run", v)
		}
	}

	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	expect("free disk", uint64(st.Bavail)*uint64(st.Bsize) >= MinFreeBytes, "statfs says so")

	_, qerr := exec.LookPath(qemu.DefaultBinary(vm.HostArch()))
	expect("QEMU", qerr == nil, "it is in PATH exactly then")
	expect("guest kernel", kernel != "", "a kernel was passed exactly then")
	kvm := check("KVM boots a guest")
	switch {
	case qerr != nil || kernel == "":
		if kvm.State != Skipped {
			t.Errorf("KVM check %v (%s) without QEMU or kernel, want skipped", kvm.State, kvm.Detail)
		}
	default:
		// serve-vm chooses its accelerator with this probe (cached per
		// process: it answers what serve-vm would have chosen).
		v := qemu.ProbeAccel(context.Background(), "", vm.HostArch(), kernel)
		expect("KVM boots a guest", v.Accel == qemu.KVM, "serve-vm's probe chose "+string(v.Accel)+": "+v.Reason)
		if _, err := os.Stat("/dev/kvm"); err != nil && kvm.State == OK {
			t.Errorf("KVM check ok without /dev/kvm")
		}
		if kvm.State == Missing && !strings.Contains(r.Verdict(ModeServeVM).String(), "TCG") {
			t.Errorf("serve-vm verdict %q does not say it falls back to TCG", r.Verdict(ModeServeVM))
		}
	}

	// The sandbox action is the sum of the serve checks before it.
	serveBasics := true
	for _, n := range []string{"mount namespace", "pid namespace", "net namespace", "overlayfs", "seccomp"} {
		serveBasics = serveBasics && check(n).State == OK
	}
	expect("sandbox runs an action", serveBasics, "root with namespaces, overlayfs and seccomp runs one")
	if got, want := r.Verdict(ModeServe).Works, serveBasics; got != want {
		t.Errorf("serve works = %v, want %v", got, want)
	}
	entries, err := os.ReadDir(root)
	if err != nil || len(entries) != 0 {
		t.Errorf("the sandbox check left %v in --root (%v)", entries, err)
	}
}

func procFilesystems(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		t.Fatal(err)
	}
	fs := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		// "nodev\toverlay" or "\tsquashfs"
		if i := strings.LastIndexByte(line, '\t'); i >= 0 {
			fs[line[i+1:]] = true
		}
	}
	return fs
}

func procStatusHas(t *testing.T, field string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), "\n"+field+":")
}

// cgroup2Controllers reads cgroup.controllers at the root of the cgroup2
// mount (none without one).
func cgroup2Controllers(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		pre, post, _ := strings.Cut(s.Text(), " - ")
		if strings.HasPrefix(post, "cgroup2 ") {
			b, err := os.ReadFile(filepath.Join(strings.Fields(pre)[4], "cgroup.controllers"))
			if err != nil {
				t.Fatal(err)
			}
			return strings.Fields(string(b))
		}
	}
	return nil
}
