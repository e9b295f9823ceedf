//go:build linux

package sandbox

import (
	"os"
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
	parent, err := setupCgroupParent("")
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
