//go:build linux

package reapi_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"golang.org/x/sys/unix"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/internal/diskfill"
)

// TestDiskFull fills the small tmpfs the store lives on with another file:
// uploads through ByteStream.Write and BatchUpdateBlobs first make room by
// evicting unused blobs, then, with nothing left to evict, fail with
// RESOURCE_EXHAUSTED saying the disk is full and leave nothing behind;
// once the file is gone they succeed again.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs to fill")
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatalf("mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, 0) })
	e := startEnv(t, cas.Options{Root: filepath.Join(mnt, "root"), MaxBytes: 1 << 30}, nil, nil)
	ctx := context.Background()
	var old []digest.Digest
	for i := range 3 {
		old = append(old, e.put(t, randomBytes(2<<20, uint64(100+i))))
	}
	filler := filepath.Join(mnt, "filler")
	diskfill.Fill(t, filler)

	upload := func(data []byte) error {
		d := digest.OfBytes(data)
		var reqs []*bspb.WriteRequest
		for off := 0; off < len(data); off += 64 << 10 {
			end := min(off+64<<10, len(data))
			reqs = append(reqs, &bspb.WriteRequest{WriteOffset: int64(off), Data: data[off:end], FinishWrite: end == len(data)})
		}
		reqs[0].ResourceName = fmt.Sprintf("uploads/u-%s/blobs/%s/%d", d.Hash[:8], d.Hash, d.Size)
		_, err := e.write(ctx, reqs...)
		return err
	}
	batch := func(data []byte) error {
		d := digest.OfBytes(data)
		resp, err := e.cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{{Digest: d.Proto(), Data: data}}})
		if err != nil {
			return err
		}
		st := resp.Responses[0].GetStatus()
		if codes.Code(st.GetCode()) == codes.OK {
			return nil
		}
		return fmt.Errorf("%v: %s", codes.Code(st.GetCode()), st.GetMessage())
	}
	for _, tc := range []struct {
		name   string
		upload func([]byte) error
		seed   uint64
	}{{"ByteStream.Write", upload, 1}, {"BatchUpdateBlobs", batch, 2}} {
		data := randomBytes(1<<20, tc.seed)
		if err := tc.upload(data); err != nil {
			t.Fatalf("%s on a full disk with unused blobs: %v, want success after eviction", tc.name, err)
		}
		e.assertPresent(t, digest.OfBytes(data), data)
		old = append(old, digest.OfBytes(data))
	}

	// Everything left is in use: nothing to evict.
	for _, d := range old {
		if unpin, err := e.store.Pin(ctx, d); err == nil {
			t.Cleanup(unpin)
		}
	}
	diskfill.Fill(t, filler)
	data := randomBytes(1<<20, 3)
	err := upload(data)
	wantCode(t, err, codes.ResourceExhausted, "the disk is full")
	t.Logf("ByteStream.Write on a full disk: %v", err)
	e.assertAbsent(t, digest.OfBytes(data))
	if err := batch(data); err == nil || !bytes.Contains([]byte(err.Error()), []byte("ResourceExhausted: ")) {
		t.Errorf("BatchUpdateBlobs on a full disk: %v, want RESOURCE_EXHAUSTED", err)
	}
	e.assertAbsent(t, digest.OfBytes(data))
	e.assertNoTemps(t)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := upload(data); err != nil {
		t.Fatalf("ByteStream.Write after space returned: %v", err)
	}
	e.assertPresent(t, digest.OfBytes(data), data)
}
