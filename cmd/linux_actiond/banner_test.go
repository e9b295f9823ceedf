//go:build linux

package main

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestServeStartupSummary: with text logs, serve prints the summary a
// person needs, ending with the .bazelrc lines for the port it really
// listens on; with JSON logs the "serving" record carries those lines.
func TestServeStartupSummary(t *testing.T) {
	bin, _ := buildBinaries(t)
	t.Run("text", func(t *testing.T) {
		cmd := exec.Command(bin, "serve", "--listen=127.0.0.1:0", "--log-format=text", "--no-execution", "--root="+t.TempDir())
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		lines := make(chan string, 100)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		var addr string
		timeout := time.After(time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("serve exited before printing its .bazelrc lines")
				}
				if a, found := strings.CutPrefix(l, "actiond is serving on "); found {
					addr = a
				}
				if strings.HasPrefix(l, "    build:actiond --remote_cache=") {
					if addr == "" || !strings.HasSuffix(l, "--remote_cache=grpc://"+addr) || strings.HasSuffix(addr, ":0") {
						t.Errorf("summary says it serves on %q and gives %q", addr, l)
					}
					return
				}
			case <-timeout:
				t.Fatal("serve printed no .bazelrc lines")
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		p := startServe(t, bin, "--root="+t.TempDir(), "--no-execution")
		lines, _ := p.serving["bazelrc"].([]any)
		want := "build:actiond --remote_cache=grpc://" + p.serving["listen"].(string)
		if len(lines) != 1 || lines[0] != want {
			t.Errorf("the serving record's bazelrc = %v, want [%q]", p.serving["bazelrc"], want)
		}
	})
}
