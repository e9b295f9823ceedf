//go:build linux

// Package parity_test checks that an action sees the same identity, the
// same privileges, the same read-only inputs and the same network whether
// linux_actiond runs as root or rootless: it starts the real daemon twice
// (as root, and as nobody through setpriv), runs the probe program as a
// remote action through the REAPI under each, and compares the two reports
// field by field. Differences the README lists as intended are allowed
// here by name, with the reason.
package parity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/internal/testbin"
	"github.com/actiond/actiond/go/reapi/reapitest"
)

// intendedDifference says why a report field may differ between a root
// and a rootless daemon, as the README's root/rootless table does, or ""
// when it must not. Errno values (fields ending in ".errno") are shown but
// not compared: an input is protected by ownership as root and by mounts
// rootless, which fail with other errors (EROFS, EBUSY).
func intendedDifference(field string) string {
	if strings.HasPrefix(field, "owner_") && field != "owner_created_file" {
		return "rootless, every file the action did not create appears owned by 65534:65534: an unprivileged daemon can map only its own uid and gid"
	}
	return ""
}

func TestRootAndRootlessActionsSeeTheSame(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it starts one daemon as root and one as nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux) to start the rootless daemon as nobody")
	}
	work := worldReadableTempDir(t)
	daemonBin := helper(t, work, "DAEMON_BIN", "../../../cmd/linux_actiond")
	probe, err := os.ReadFile(helper(t, work, "PROBE_BIN", "./probe"))
	if err != nil {
		t.Fatal(err)
	}
	image := os.Getenv("ACTIOND_TEST_RUNTIME_IMAGE")
	var props []*repb.Platform_Property
	if image != "" {
		props = []*repb.Platform_Property{{Name: "libc", Value: "glibc2.36"}, {Name: "requires-bash"}}
	} else {
		t.Log("ACTIOND_TEST_RUNTIME_IMAGE is not set: runtime files are not compared")
	}

	reports := map[string]map[string]string{}
	for _, mode := range []string{"root", "rootless"} {
		root := filepath.Join(work, mode)
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		args := []string{daemonBin, "serve", "--root=" + root, "--jobs=1", "--log-format=text"}
		if image != "" {
			args = append(args, "--runtime-image="+image)
		}
		if mode == "rootless" {
			if err := os.Chown(root, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			args = append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"}, args...)
		}
		conn := startDaemon(t, mode, args)
		reports[mode] = runProbe(t, conn, probe, props)
		mutable := append([]*repb.Platform_Property{{Name: "mutates_inputs", Value: "1"}}, props...)
		reports[mode+" mutates_inputs"] = runProbe(t, conn, probe, mutable)
	}
	compareReports(t, "", reports["root"], reports["rootless"])
	compareReports(t, "mutates_inputs: ", reports["root mutates_inputs"], reports["rootless mutates_inputs"])

	// Beyond parity, what every mode must give.
	for mode, r := range reports {
		want := map[string]string{
			"uid": "65534 65534 65534 65534", "gid": "65534 65534 65534 65534",
			"no_new_privs": "1", "seccomp_mode": "2",
			"cap_effective": "0000000000000000", "cap_permitted": "0000000000000000", "cap_bounding": "0000000000000000",
			"setuid_0": "fails", "mount_tmpfs": "fails", "chroot": "fails", "ptrace_pid1": "fails",
			"input_overwrite": "fails", "input_truncate": "fails",
			"create_file_next_to_inputs": "ok", "mkdir_next_to_inputs": "ok",
			"big_input_entries": "40 <nil>",
			"tcp_loopback":      "ok", "routes_ipv4": "", "interfaces": "lo(up|loopback|running)",
		}
		inputChanges := "fails"
		if strings.HasSuffix(mode, "mutates_inputs") {
			inputChanges = "ok"
		}
		for _, k := range []string{"input_chmod", "input_unlink", "input_rename", "input_dir_rmdir_recursive", "big_input_unlink"} {
			want[k] = inputChanges
		}
		for k, v := range want {
			if r[k] != v {
				t.Errorf("%s daemon: %s = %q, want %q", mode, k, r[k], v)
			}
		}
		routes := strings.Fields(r["routes_ipv6"])
		if len(routes) == 0 || slices.ContainsFunc(routes, func(dev string) bool { return dev != "lo" }) {
			t.Errorf("%s daemon: IPv6 routes on %q, want only lo", mode, r["routes_ipv6"])
		}
	}
}

// compareReports fails the test for every field in which the root and the
// rootless daemon's reports differ without an intended reason.
func compareReports(t *testing.T, label string, rootReport, rootlessReport map[string]string) {
	t.Helper()
	keys := map[string]bool{}
	for k := range rootReport {
		keys[k] = true
	}
	for k := range rootlessReport {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var table strings.Builder
	for _, k := range sorted {
		a, b := rootReport[k], rootlessReport[k]
		fmt.Fprintf(&table, "%-32s root=%-28q rootless=%q\n", k, a, b)
		if a == b || strings.HasSuffix(k, ".errno") {
			continue
		}
		if reason := intendedDifference(k); reason != "" {
			t.Logf("%s%s differs as intended (%s): root %q, rootless %q", label, k, reason, a, b)
			continue
		}
		t.Errorf("%s%s: root daemon %q, rootless daemon %q", label, k, a, b)
	}
	t.Logf("%sreports:\n%s", label, table.String())
}

// worldReadableTempDir returns a temporary directory that nobody can
// traverse, for the binaries and the rootless daemon's root.
func worldReadableTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "actiond-parity-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// helper returns the program of package pkg (see testbin.Path), copied
// into dir, where nobody can run it.
func helper(t *testing.T, dir, env, pkg string) string {
	t.Helper()
	built, err := testbin.Path(env, pkg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	if err := os.WriteFile(out, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// startDaemon runs args (a linux_actiond serve command line) on a free
// loopback port and returns a connection once it answers.
func startDaemon(t *testing.T, mode string, args []string) *grpc.ClientConn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(args[0], append(args[1:], "--listen="+addr)...)
	logFile := filepath.Join(t.TempDir(), mode+".log")
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("%s daemon log:\n%s", mode, b)
		}
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{})
		cancel()
		if err == nil {
			return conn
		}
		select {
		case werr := <-exited:
			b, _ := os.ReadFile(logFile)
			t.Fatalf("%s daemon exited before serving (%v):\n%s", mode, werr, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s daemon did not answer on %s: %v", mode, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runProbe executes the probe with its inputs and returns its report.
func runProbe(t *testing.T, conn *grpc.ClientConn, probe []byte, props []*repb.Platform_Property) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	blobs := [][]byte{probe}
	file := func(name string, data []byte, exec bool) *repb.FileNode {
		blobs = append(blobs, data)
		return &repb.FileNode{Name: name, Digest: digest.OfBytes(data).Proto(), IsExecutable: exec}
	}
	dirNode := func(name string, d *repb.Directory) *repb.DirectoryNode {
		b, dg := reapitest.Marshal(t, d)
		blobs = append(blobs, b)
		return &repb.DirectoryNode{Name: name, Digest: dg.Proto()}
	}
	sub := &repb.Directory{Files: []*repb.FileNode{file("keep", []byte("keep\n"), false)}}
	// More files than the server's bind threshold (32): bound read-only
	// from its directory cache rather than linked file by file.
	big := &repb.Directory{}
	for i := range 40 {
		big.Files = append(big.Files, file(fmt.Sprintf("f%02d", i), []byte(fmt.Sprintf("big %d\n", i)), true))
	}
	in := &repb.Directory{Directories: []*repb.DirectoryNode{dirNode("dir", sub)}}
	for _, name := range []string{"chmod", "rename", "truncate", "unlink", "write"} {
		// Bazel marks every input executable; half of these are not.
		in.Files = append(in.Files, file(name, []byte("input "+name+"\n"), name < "s"))
	}
	// pkg holds an output, so it is materialized and locked itself, with
	// the read-only bind of big below it.
	pkg := &repb.Directory{Directories: []*repb.DirectoryNode{dirNode("big", big)}}
	root := &repb.Directory{Directories: []*repb.DirectoryNode{dirNode("in", in), dirNode("pkg", pkg)}}
	root.Files = []*repb.FileNode{{Name: "probe", Digest: digest.OfBytes(probe).Proto(), IsExecutable: true}}
	rootBytes, rootDigest := reapitest.Marshal(t, root)
	command := &repb.Command{Arguments: []string{"./probe"}, OutputFiles: []string{"pkg/out"}, Platform: &repb.Platform{Properties: props}}
	cmdBytes, cmdDigest := reapitest.Marshal(t, command)
	action := &repb.Action{CommandDigest: cmdDigest.Proto(), InputRootDigest: rootDigest.Proto(), Platform: command.Platform, DoNotCache: true}
	actionBytes, actionDigest := reapitest.Marshal(t, action)
	blobs = append(blobs, rootBytes, cmdBytes, actionBytes)

	// The probe binary is above the batch limit: ByteStream, as Bazel does.
	reapitest.WriteBlob(ctx, t, conn, probe)
	resp := reapitest.Execute(ctx, t, conn, actionDigest, blobs[1:]...)
	if resp.GetStatus().GetCode() != 0 || resp.GetResult().GetExitCode() != 0 {
		t.Fatalf("probe action: status %v, exit code %d, stderr:\n%s", resp.GetStatus(), resp.GetResult().GetExitCode(), reapitest.ReadBlob(t, conn, resp.GetResult().GetStderrDigest()))
	}
	report := map[string]string{}
	stdout := reapitest.ReadBlob(t, conn, resp.GetResult().GetStdoutDigest())
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("probe report: %v\n%s", err, stdout)
	}
	return report
}
