//go:build linux

package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/vm/vmtest"
)

// freeLoopbackAddr returns a loopback address with a port nobody listened
// on a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// handledCapabilities is the guest's count of GetCapabilities calls in a
// metrics text, or -1.
func handledCapabilities(metrics string) int {
	m := regexp.MustCompile(`(?m)^actiond_rpc_handled_total\{code="OK",method="/build.bazel.remote.execution.v2.Capabilities/GetCapabilities"\} (\d+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return -1
	}
	n := 0
	for _, c := range m[1] {
		n = 10*n + int(c-'0')
	}
	return n
}

// TestServeVMStatusAndMetrics boots the real guest with --metrics-listen
// and checks that the host prints the guest's start-up summary, serves
// the guest's status page and metrics (which move when a client calls the
// guest through the forwarded port), and that `status` reaches the guest.
func TestServeVMStatusAndMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	kernel := vmtest.Kernel(t)
	initramfs := realInitramfs(t)
	metricsAddr := freeLoopbackAddr(t)
	args := []string{"serve-vm", "--root=" + t.TempDir(), "--kernel=" + kernel, "--initramfs=" + initramfs,
		"--memory-mib=512", "--cpus=1", "--cas-image-size-mib=256", "--start-timeout-ms=600000", "--log-format=text",
		"--listen=127.0.0.1:0", "--metrics-listen=" + metricsAddr}
	log := newLogWatch(`msg="status page"`)
	code := make(chan int, 1)
	go func() { code <- run(args, io.Discard, log) }()
	select {
	case <-log.seen:
	case c := <-code:
		t.Fatalf("serve-vm exited with %d before serving its status page:\n%s", c, log)
	}
	defer func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if c := <-code; c != 0 {
			t.Errorf("serve-vm exited with %d after SIGTERM:\n%s", c, log)
		}
	}()
	text := log.String()
	m := regexp.MustCompile(`msg=serving listen=(127\.0\.0\.1:\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no serving record:\n%s", text)
	}
	grpcAddr := m[1]
	for _, want := range []string{"actiond is serving on " + grpcAddr, "(in the VM)", "machine:  QEMU VM (x86_64", "build:actiond --remote_executor=grpc://" + grpcAddr} {
		if !strings.Contains(text, want) {
			t.Errorf("the start-up summary lacks %q:\n%s", want, text)
		}
	}

	base := "http://" + metricsAddr
	before := handledCapabilities(fetch(t, base+"/metrics"))
	conn, err := grpc.NewClient("passthrough:///"+grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 3 {
		if _, err := repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	after := fetch(t, base+"/metrics")
	if got := handledCapabilities(after); got != before+3 || !strings.Contains(after, "actiond_cas_max_bytes") {
		t.Errorf("the guest's GetCapabilities count went from %d to %d through the host's /metrics, want +3 (and the guest's CAS metrics)", before, got)
	}

	var snap activity.Snapshot
	if err := json.Unmarshal([]byte(fetch(t, base+"/status.json")), &snap); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(snap.Mode, "QEMU VM (x86_64") || snap.CAS.MaxBytes <= 0 || snap.CAS.MaxBytes > 256<<20 {
		t.Errorf("status: mode %q, CAS limit %d; want the VM named and the guest's CAS (under its 256 MiB disk)", snap.Mode, snap.CAS.MaxBytes)
	}
	if page := fetch(t, base+"/"); !strings.Contains(page, "QEMU VM (x86_64") {
		t.Errorf("the status page does not name the VM:\n%.3000s", page)
	}

	var out, errOut strings.Builder
	if c := run([]string{"status", "--addr", grpcAddr}, &out, &errOut); c != 0 || !strings.Contains(out.String(), "linux sandbox") {
		t.Errorf("status through the forwarded port = %d:\n%s%s", c, out.String(), errOut.String())
	}
}
