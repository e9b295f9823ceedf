//go:build linux

package guest

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMain makes the test binary a stand-in daemon when supervise starts it
// with DaemonArg: it leaves an orphan behind, says "ready" on its stdout
// and exits 0 on SIGTERM (or with the status its runtime dir argument
// names).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == DaemonArg {
		os.Exit(fakeDaemon(os.Args[2]))
	}
	os.Exit(m.Run())
}

func fakeDaemon(mode string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	// The shell exits at once; its background child is re-parented to
	// the nearest subreaper, the test process.
	if err := exec.Command("/bin/sh", "-c", "true &").Run(); err != nil {
		fmt.Println("orphan:", err)
		return 3
	}
	if mode == "fail" {
		return 7
	}
	fmt.Println("ready")
	<-term
	return 0
}

func TestSuperviseForwardsSIGTERMAndReaps(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	// Orphans of the stand-in come to this process, as they come to PID
	// 1 in the guest.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	tests := []struct {
		mode    string
		wantErr string
	}{
		{mode: "serve"},
		{mode: "fail", wantErr: "the daemon exited with status 7"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			done := make(chan error, 1)
			go func() {
				done <- supervise(Options{Logger: testLogger(), Level: new(slog.LevelVar), Console: w}, tt.mode)
				w.Close()
			}()
			if tt.mode == "serve" {
				line, err := bufio.NewReader(r).ReadString('\n')
				if err != nil || line != "ready\n" {
					t.Fatalf("the stand-in daemon said %q, %v", line, err)
				}
				// What the host's stop does to PID 1.
				if err := unix.Kill(os.Getpid(), unix.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			err = <-done
			if tt.wantErr == "" && err != nil {
				t.Fatalf("supervise: %v", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("supervise = %v, want %q", err, tt.wantErr)
			}
			// Every child, the orphan included, has been waited for.
			if _, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); !errors.Is(err, unix.ECHILD) {
				t.Errorf("after supervise, wait4 = %v, want ECHILD (a child was left unreaped)", err)
			}
		})
	}
}
