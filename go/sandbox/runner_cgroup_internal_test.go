//go:build linux

package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestActionCgroupLifecycle creates an action group without limits (so it
// works on a cgroup v2 hierarchy without controllers, like the v1 hybrid
// hosts), starts a process into it at clone and checks that remove kills it
// and deletes the group.
func TestActionCgroupLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	parent, err := setupCgroupParent("", false)
	if err != nil {
		t.Skipf("no usable cgroup v2 hierarchy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(parent.dir, "cgroup.kill")); err != nil {
		t.Skipf("cgroup.kill unavailable (kernel < 5.14?): %v", err)
	}
	g, err := parent.create(Limits{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	sleep, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{
		Sys: &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.fd},
	})
	if err != nil {
		g.remove()
		t.Fatalf("start process in cgroup: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(g.dir, "cgroup.procs"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(sleep.Pid) {
		t.Errorf("cgroup.procs = %q, %v; want %d", b, err, sleep.Pid)
	}
	done := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := sleep.Wait()
		done <- st
	}()
	if err := g.remove(); err != nil {
		t.Errorf("remove: %v", err)
	}
	select {
	case st := <-done:
		if ws := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("process ended with %v, want killed by SIGKILL", st)
		}
	case <-time.After(5 * time.Second):
		sleep.Kill()
		t.Fatal("process in the removed cgroup still runs")
	}
	if _, err := os.Stat(g.dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still exists: %v", g.dir, err)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/sys/fs/cgroup", "/sys/fs/cgroup"},
		{`/mnt/with\040space`, "/mnt/with space"},
		{`/a\134b`, `/a\b`},
	} {
		if got := unescapeMountPath(tc.in); got != tc.want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUnifiedCgroupPath(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		wantErr        bool
	}{
		{"v2 only", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/actiond.service\n", "/user.slice/user-1000.slice/user@1000.service/app.slice/actiond.service", false},
		{"hybrid", "4:memory:/x\n1:cpu:/\n0::/\n", "/", false},
		{"v1 only", "4:memory:/x\n1:cpu:/\n", "", true},
		{"empty", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := unifiedCgroupPath(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("unifiedCgroupPath(%q) = %q, %v; want %q (error: %v)", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestDelegatedCgroup gives nobody a cgroup v2 group the way systemd
// delegates one to a user service (the group's directory and its
// cgroup.procs, cgroup.subtree_control and cgroup.threads files), starts
// this test binary in it as nobody and checks, in
// TestDelegatedCgroupInner, that a rootless daemon takes it: it moves
// itself into a leaf and puts the actions' groups beside it. A second
// group that is not delegated must be refused with a message saying so.
func TestDelegatedCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a cgroup and delegate it to nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	mnt, err := findCgroup2Mount()
	if err != nil {
		t.Skipf("no cgroup v2 hierarchy: %v", err)
	}
	for _, tc := range []struct {
		name      string
		delegated bool
	}{{"delegated", true}, {"not delegated", false}} {
		t.Run(tc.name, func(t *testing.T) {
			own, err := os.MkdirTemp(mnt, "actiond-delegation-test-")
			if err != nil {
				t.Skipf("cannot create a cgroup under %s: %v", mnt, err)
			}
			t.Cleanup(func() {
				for _, d := range []string{"actiond", "actiond-daemon", ""} {
					_ = os.Remove(filepath.Join(own, d))
				}
			})
			if tc.delegated {
				for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
					if err := os.Chown(filepath.Join(own, f), 65534, 65534); err != nil {
						t.Fatal(err)
					}
				}
			}
			cg, err := os.Open(own)
			if err != nil {
				t.Fatal(err)
			}
			defer cg.Close()
			self, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
				self, "-test.run=^TestDelegatedCgroupInner$", "-test.v", "-test.count=1")
			cmd.Dir = "/"
			cmd.Env = append(os.Environ(), "ACTIOND_TEST_DELEGATED_CGROUP="+own, "ACTIOND_TEST_DELEGATED="+strconv.FormatBool(tc.delegated))
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestDelegatedCgroupInner") {
				t.Fatalf("TestDelegatedCgroupInner as nobody: %v\n%s", err, out)
			}
		})
	}
}

func TestDelegatedCgroupInner(t *testing.T) {
	own := os.Getenv("ACTIOND_TEST_DELEGATED_CGROUP")
	if own == "" {
		t.Skip("only run by TestDelegatedCgroup")
	}
	mnt, err := findCgroup2Mount()
	if err != nil {
		t.Fatal(err)
	}
	p, err := setupCgroupParent("", true)
	if os.Getenv("ACTIOND_TEST_DELEGATED") == "false" {
		if err == nil || !strings.Contains(err.Error(), "not delegated") {
			t.Fatalf("setupCgroupParent in a group owned by root: got %v, %v; want an error saying it is not delegated", p, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("setupCgroupParent in a delegated group: %v", err)
	}
	if want := filepath.Join(own, "actiond"); p.dir != want {
		t.Errorf("actions' parent group: got %s, want %s", p.dir, want)
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	got, err := unifiedCgroupPath(string(b))
	if want := strings.TrimPrefix(filepath.Join(own, "actiond-daemon"), mnt); err != nil || got != want {
		t.Errorf("the daemon's cgroup after setup: got %q, %v; want %q", got, err, want)
	}
	// Groups can be made for actions; with the controllers this host
	// delegates (maybe none) the limits may stay unenforced.
	g, err := p.create(Limits{})
	if err != nil {
		t.Fatalf("create an action group: %v", err)
	}
	if err := g.remove(); err != nil {
		t.Errorf("remove the action group: %v", err)
	}
}

func TestCgroupEventCount(t *testing.T) {
	const memoryEvents = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n"
	for _, tc := range []struct {
		events, key string
		want        int64
	}{
		{memoryEvents, "oom_kill", 1},
		{memoryEvents, "max", 12},
		{memoryEvents, "oom_group_kill", 0},
		{memoryEvents, "absent", 0},
		{"max 3", "max", 3},
		{"max x\n", "max", 0},
		{"", "max", 0},
	} {
		if got := cgroupEventCount(tc.events, tc.key); got != tc.want {
			t.Errorf("cgroupEventCount(%q, %q) = %d, want %d", tc.events, tc.key, got, tc.want)
		}
	}
}
