//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi/reapitest"
	"github.com/actiond/actiond/go/statusrpc"
	"github.com/actiond/actiond/go/vm"
	"github.com/actiond/actiond/go/vm/vmtest"
)

// allocatedBytes is how much of the host file path holds data (the CAS
// image is sparse, so it grows as the guest writes).
func allocatedBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestServeVMDiskFull fills the guest's CAS disk with an action's scratch
// file and then uploads a blob that no longer fits although the CAS is
// far below its limit: the client must get RESOURCE_EXHAUSTED saying the
// disk is full, the blob must not be there (nothing half-written), and
// once the action is gone and its space returns, the same upload must
// succeed and read back whole.
func TestServeVMDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	kernel, initramfs := vmtest.Kernel(t), vmtest.Initramfs(t, "../..")
	bin := goBuild(t, ".")
	probe, err := os.ReadFile(goBuild(t, "./testdata/limitprobe"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	d := startDaemon(t, bin, "serve-vm", "--root="+root, "--kernel="+kernel, "--initramfs="+initramfs,
		"--memory-mib=512", "--cpus=1", "--cas-image-size-mib=160")
	defer func() {
		_ = d.cmd.Process.Signal(os.Interrupt)
		<-d.done
	}()
	img := vm.DefaultCASImage(root)

	// The scratch file takes most of the disk; the CAS (80% of it) is
	// empty, so only the disk itself can refuse the upload below.
	const fillMiB, blobMiB = 100, 48
	before := allocatedBytes(t, img)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, _ := startActionContext(ctx, t, d.conn, probe, []string{"fill", strconv.Itoa(fillMiB)}, 10*time.Minute)
	waitStage(t, stream, repb.ExecutionStage_EXECUTING)
	deadline := time.Now().Add(3 * time.Minute)
	for allocatedBytes(t, img) < before+fillMiB<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the guest's disk image grew by %d MiB in 3 minutes, want %d MiB from the fill action", (allocatedBytes(t, img)-before)>>20, fillMiB)
		}
		time.Sleep(100 * time.Millisecond)
	}

	blob := make([]byte, blobMiB<<20)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	bd := digest.OfBytes(blob)
	upCtx, upCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer upCancel()
	err = reapitest.Write(upCtx, d.conn, blob)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "disk is full") {
		t.Fatalf("uploading %d MiB onto a full disk = %v, want RESOURCE_EXHAUSTED saying the disk is full", blobMiB, err)
	}
	t.Logf("upload onto the full disk: %v", err)
	missing, err := repb.NewContentAddressableStorageClient(d.conn).FindMissingBlobs(upCtx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{bd.Proto()}})
	if err != nil || len(missing.GetMissingBlobDigests()) != 1 {
		t.Fatalf("FindMissingBlobs after the refused upload = %v, %v; want the blob missing", missing, err)
	}

	// Give the space back: without a waiter the action is killed and its
	// work directory removed.
	cancel()
	deadline = time.Now().Add(2 * time.Minute)
	for {
		err := reapitest.Write(upCtx, d.conn, blob)
		if err == nil {
			break
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("uploading once the action is gone = %v, want success", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got, err := statusrpc.NewClient(d.conn).ReadBlob(upCtx, bd, bd.Size)
	if err != nil {
		t.Fatalf("reading the blob back: %v", err)
	}
	if digest.OfBytes(got) != bd {
		t.Fatalf("the blob read back has digest %s, want %s", digest.OfBytes(got), bd)
	}
}
