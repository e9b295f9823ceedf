//go:build linux

package main_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/actiond/actiond/go/channel"
	"github.com/actiond/actiond/go/vm/vmtest"
)

// bootResult is a finished boot: the console and whether the guest
// reached the channel.
type bootResult struct {
	console string
	waited  bool
}

// boot runs QEMU (TCG) on the initramfs with cas as the CAS disk. When the
// guest waits on the channel, connected is called with a connection to
// it; closing that ends the session and the guest powers off.
func boot(t *testing.T, kernel, initramfs, cas string, connected func(net.Conn)) bootResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sock := filepath.Join(t.TempDir(), "ch.sock")
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-nographic", "-no-reboot", "-nic", "none", "-m", "1024",
		"-kernel", kernel, "-initrd", initramfs,
		"-append", "console=ttyS0 panic=-1 actiond.channel=virtio-serial:actiond actiond.format_cas=1",
		"-drive", "file="+cas+",format=raw,if=virtio",
		// Without an entropy source the guest's first getrandom()
		// (mke2fs's UUIDs, the daemon's) waits seconds for the CRNG.
		"-device", "virtio-rng-pci",
		"-device", "virtio-serial-pci",
		"-chardev", "socket,id=ch0,path="+sock+",server=on,wait=off",
		"-device", "virtserialport,chardev=ch0,name=actiond")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var console strings.Builder
	res := bootResult{}
	s := bufio.NewScanner(stdout)
	for s.Scan() {
		line := s.Text()
		console.WriteString(line + "\n")
		if !res.waited && strings.Contains(line, "waiting for the host on the channel") {
			res.waited = true
			conn, err := net.Dial("unix", sock)
			if err != nil {
				t.Errorf("connecting to the channel: %v", err)
				cmd.Process.Kill()
				continue
			}
			connected(conn)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("qemu: %v\n%s", err, console.String())
	}
	res.console = console.String()
	return res
}

// TestBootInQEMU boots the initramfs that vm/build_initramfs.sh makes:
// an empty CAS disk is formatted and served, a second boot mounts it
// without formatting, and a disk holding another file system is refused
// untouched.
func TestBootInQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	kernel := vmtest.Kernel(t)
	initramfs := vmtest.Initramfs(t, "../..")
	dir := t.TempDir()
	cas := filepath.Join(dir, "cas.img")
	if err := os.WriteFile(cas, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(cas, 1<<30); err != nil {
		t.Fatal(err)
	}
	getCapabilities := func(conn net.Conn) {
		var ccs []*grpc.ClientConn
		host, err := channel.NewHost(conn)
		if err != nil {
			conn.Close()
			t.Error(err)
			return
		}
		defer host.Close() // ends the session: the guest shuts down
		// Two clients at once: the session carries many connections.
		for i := 0; i < 2; i++ {
			cc, err := grpc.NewClient("passthrough:///channel",
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return host.Dial(ctx) }))
			if err != nil {
				t.Error(err)
				return
			}
			defer cc.Close()
			ccs = append(ccs, cc)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		for _, cc := range ccs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				caps, err := repb.NewCapabilitiesClient(cc).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{})
				if err != nil {
					t.Errorf("GetCapabilities through the channel: %v", err)
					return
				}
				if !caps.GetExecutionCapabilities().GetExecEnabled() {
					t.Errorf("the guest daemon serves without execution: %v", caps)
				}
			}()
		}
		wg.Wait()
	}

	first := boot(t, kernel, initramfs, cas, getCapabilities)
	for _, want := range []string{"formatting the empty CAS disk as ext4", "waiting for the host on the channel", "the daemon stopped", "EXT4-fs (vda): unmounting filesystem", "reboot: Power down"} {
		if !strings.Contains(first.console, want) {
			t.Errorf("first boot: the console lacks %q:\n%s", want, first.console)
		}
	}
	second := boot(t, kernel, initramfs, cas, getCapabilities)
	if strings.Contains(second.console, "formatting") || !second.waited || !strings.Contains(second.console, "the daemon stopped") {
		t.Errorf("second boot: want the CAS mounted as it is and served:\n%s", second.console)
	}

	xfs := filepath.Join(dir, "xfs.img")
	head := []byte("XFSB\x00\x00\x10\x00")
	if err := os.WriteFile(xfs, head, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(xfs, 64<<20); err != nil {
		t.Fatal(err)
	}
	refused := boot(t, kernel, initramfs, xfs, func(conn net.Conn) { conn.Close(); t.Error("a disk holding XFS was served") })
	if want := "actiond guest: cas: the CAS disk /dev/vda holds a xfs filesystem that is not ext4; actiond never reformats a disk"; !strings.Contains(refused.console, want) {
		t.Errorf("XFS disk: the console lacks %q:\n%s", want, refused.console)
	}
	if b, err := os.ReadFile(xfs); err != nil || !bytes.HasPrefix(b, head) || len(bytes.Trim(b[len(head):], "\x00")) != 0 {
		t.Errorf("the XFS disk was written to (%v)", err)
	}
}
