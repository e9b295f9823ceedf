//go:build linux

package qemu

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary act as a daemon that starts a child with
// startDying and then waits to be killed.
func TestMain(m *testing.M) {
	if os.Getenv("QEMU_TEST_DYING_PARENT") == "1" {
		done := make(chan error)
		cmd := exec.Command("sleep", "1000")
		// From a goroutine that then ends: its thread may be retired,
		// which must not kill the child.
		go func() { done <- startDying(cmd) }()
		if err := <-done; err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("child", cmd.Process.Pid)
		select {}
	}
	os.Exit(m.Run())
}

// TestChildDiesWithTheDaemon kills the daemon with SIGKILL and waits for
// its child: the parent-death signal must kill it. The test process
// becomes a subreaper, so the orphan is reparented to it and Wait4 sees it
// die; if it never dies, the test times out.
func TestChildDiesWithTheDaemon(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep binary")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a subreaper: %v", err)
	}
	daemon := exec.Command(os.Args[0], "-test.run=^$")
	daemon.Env = append(os.Environ(), "QEMU_TEST_DYING_PARENT=1")
	out, err := daemon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "child ") {
		t.Fatalf("daemon said %q, %v", line, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "child ")))
	if err != nil {
		t.Fatal(err)
	}
	daemon.Process.Kill()
	daemon.Wait()
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatalf("wait4 %d: %v", pid, err)
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("child ended with %v, want killed by SIGKILL", ws)
	}
}
