package reapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi"
)

func uploadName(d digest.Digest) string {
	return "inst/uploads/7b3c6a94-0d1e-4c5f-9a1b-2f4e8d6c0a11/blobs/" + d.String()
}

func zstdUploadName(d digest.Digest) string {
	return "inst/uploads/7b3c6a94-0d1e-4c5f-9a1b-2f4e8d6c0a11/compressed-blobs/zstd/" + d.String()
}

func TestByteStreamRead(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	data := randomBytes(3<<20+123, 7)
	d := e.put(t, data)
	text := compressible(2 << 20)
	td := e.put(t, text)
	missing := digest.OfBytes([]byte("not stored"))

	tests := []struct {
		name   string
		req    *bspb.ReadRequest
		want   []byte
		code   codes.Code
		substr string
	}{
		{name: "whole blob", req: &bspb.ReadRequest{ResourceName: "blobs/" + d.String()}, want: data},
		{name: "with instance name", req: &bspb.ReadRequest{ResourceName: "a/b/c/blobs/" + d.String()}, want: data},
		{name: "offset", req: &bspb.ReadRequest{ResourceName: "blobs/" + d.String(), ReadOffset: 1<<20 + 5}, want: data[1<<20+5:]},
		{name: "offset and limit", req: &bspb.ReadRequest{ResourceName: "blobs/" + d.String(), ReadOffset: 10, ReadLimit: 100}, want: data[10:110]},
		{name: "limit beyond the end", req: &bspb.ReadRequest{ResourceName: "blobs/" + d.String(), ReadOffset: d.Size - 3, ReadLimit: 100}, want: data[d.Size-3:]},
		{name: "offset at the end", req: &bspb.ReadRequest{ResourceName: "blobs/" + d.String(), ReadOffset: d.Size}, want: nil},
		{name: "empty blob", req: &bspb.ReadRequest{ResourceName: "blobs/" + digest.Empty.String()}, want: nil},
		{name: "offset past the end", req: &bspb.ReadRequest{ResourceName: "blobs/" + d.String(), ReadOffset: d.Size + 1}, code: codes.OutOfRange, substr: "past the end"},
		{name: "negative offset", req: &bspb.ReadRequest{ResourceName: "blobs/" + d.String(), ReadOffset: -1}, code: codes.OutOfRange, substr: "negative"},
		{name: "negative limit", req: &bspb.ReadRequest{ResourceName: "blobs/" + d.String(), ReadLimit: -1}, code: codes.InvalidArgument, substr: "read_limit"},
		{name: "missing blob", req: &bspb.ReadRequest{ResourceName: "blobs/" + missing.String()}, code: codes.NotFound},
		{name: "short hash", req: &bspb.ReadRequest{ResourceName: "blobs/0123/3"}, code: codes.InvalidArgument, substr: "length 4"},
		{name: "non-hex hash", req: &bspb.ReadRequest{ResourceName: "blobs/" + hashA[:62] + "zz/3"}, code: codes.InvalidArgument, substr: "hex"},
		{name: "negative size", req: &bspb.ReadRequest{ResourceName: "blobs/" + hashA + "/-1"}, code: codes.InvalidArgument, substr: "negative"},
		{name: "unknown digest function", req: &bspb.ReadRequest{ResourceName: "blobs/blake3/" + hashA + "/1"}, code: codes.InvalidArgument, substr: "blake3"},
		{name: "unknown compressor", req: &bspb.ReadRequest{ResourceName: "compressed-blobs/brotli/" + d.String()}, code: codes.InvalidArgument, substr: "brotli"},
		{name: "compressed with limit", req: &bspb.ReadRequest{ResourceName: "compressed-blobs/zstd/" + d.String(), ReadLimit: 5}, code: codes.InvalidArgument, substr: "read_limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, chunks, err := e.read(ctx, tc.req)
			wantCode(t, err, tc.code, tc.substr)
			if tc.code != codes.OK {
				return
			}
			if string(got) != string(tc.want) {
				t.Errorf("read %d bytes that differ from the %d wanted", len(got), len(tc.want))
			}
			for _, c := range chunks {
				if c > 1<<20 {
					t.Errorf("chunk of %d bytes, want at most 1 MiB", c)
				}
			}
		})
	}
	for _, tc := range []struct {
		name   string
		d      digest.Digest
		offset int64
		want   []byte
	}{
		{"zstd text", td, 0, text},
		{"zstd text from an offset", td, 12345, text[12345:]},
		{"zstd random data", d, 0, data},
		{"zstd empty blob", digest.Empty, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := e.read(ctx, &bspb.ReadRequest{ResourceName: "inst/compressed-blobs/zstd/" + tc.d.String(), ReadOffset: tc.offset})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if tc.d == td && len(got) >= len(tc.want)/2 {
				t.Errorf("compressed text is %d bytes, want well under %d", len(got), len(tc.want))
			}
			if plain := zstdDecompress(t, got); string(plain) != string(tc.want) {
				t.Errorf("inflated to %d bytes that differ from the %d wanted", len(plain), len(tc.want))
			}
		})
	}
}

func TestByteStreamWrite(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()

	t.Run("identity in chunks", func(t *testing.T) {
		data := randomBytes(5<<20+17, 11)
		d := digest.OfBytes(data)
		resp, err := e.write(ctx, chunked(uploadName(d), data, 0, 1<<20)...)
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		if resp.CommittedSize != d.Size {
			t.Errorf("committed_size %d, want %d", resp.CommittedSize, d.Size)
		}
		e.assertPresent(t, d, data)
	})
	t.Run("zstd", func(t *testing.T) {
		data := compressible(3 << 20)
		d := digest.OfBytes(data)
		z := zstdCompress(t, data)
		resp, err := e.write(ctx, chunked(zstdUploadName(d), z, 0, 64<<10)...)
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		if resp.CommittedSize != int64(len(z)) {
			t.Errorf("committed_size %d, want the %d compressed bytes", resp.CommittedSize, len(z))
		}
		e.assertPresent(t, d, data)
	})
	t.Run("already present", func(t *testing.T) {
		data := []byte("already here")
		d := e.put(t, data)
		// Only half the data is sent and no finish_write: the server
		// answers at once.
		resp, err := e.write(ctx, &bspb.WriteRequest{ResourceName: uploadName(d), Data: data[:5]})
		if err != nil || resp.CommittedSize != d.Size {
			t.Errorf("Write = %v, %v; want committed_size %d", resp, err, d.Size)
		}
		resp, err = e.write(ctx, &bspb.WriteRequest{ResourceName: zstdUploadName(d), Data: []byte{1, 2}})
		if err != nil || resp.CommittedSize != -1 {
			t.Errorf("compressed Write = %v, %v; want committed_size -1", resp, err)
		}
	})

	data := randomBytes(300<<10, 12)
	d := digest.OfBytes(data)
	name := uploadName(d)
	text := compressible(200 << 10)
	td := digest.OfBytes(text)
	zname := zstdUploadName(td)
	zText := zstdCompress(t, text)
	wrongD := mustDigest(t, hashA, d.Size)
	inflating := zstdCompress(t, compressible(400<<10))
	bad := []struct {
		name   string
		reqs   []*bspb.WriteRequest
		substr string
		absent digest.Digest
	}{
		{
			name: "gap in offsets", absent: d, substr: "write_offset 110, want 100",
			reqs: []*bspb.WriteRequest{
				{ResourceName: name, WriteOffset: 0, Data: data[:100]},
				{WriteOffset: 110, Data: data[110:], FinishWrite: true},
			},
		},
		{
			name: "overlapping offsets", absent: d, substr: "write_offset 90, want 100",
			reqs: []*bspb.WriteRequest{
				{ResourceName: name, WriteOffset: 0, Data: data[:100]},
				{WriteOffset: 90, Data: data[90:], FinishWrite: true},
			},
		},
		{
			name: "first offset not at the committed size", absent: d, substr: "write_offset 5, want 0",
			reqs: []*bspb.WriteRequest{{ResourceName: name, WriteOffset: 5, Data: data[5:], FinishWrite: true}},
		},
		{
			name: "past declared size", absent: d, substr: "past the declared size",
			reqs: chunked(name, append(append([]byte{}, data...), 'x'), 0, 64<<10),
		},
		{
			name: "finish before the declared size", absent: d, substr: "finish_write after 1000 bytes",
			reqs: []*bspb.WriteRequest{{ResourceName: name, Data: data[:1000], FinishWrite: true}},
		},
		{
			name: "bytes do not match digest", absent: wrongD, substr: "hashes to",
			reqs: chunked(uploadName(wrongD), data, 0, 64<<10),
		},
		{
			name: "resource name changes", absent: d, substr: "resource_name changed",
			reqs: []*bspb.WriteRequest{
				{ResourceName: name, Data: data[:100]},
				{ResourceName: uploadName(td), WriteOffset: 100, Data: data[100:], FinishWrite: true},
			},
		},
		{
			name: "corrupt zstd stream", absent: td, substr: "corrupt zstd",
			reqs: chunked(zname, append(append([]byte{}, zText[:len(zText)/2]...), randomBytes(4096, 5)...), 0, 1024),
		},
		{
			name: "truncated zstd stream", absent: td, substr: "zstd",
			reqs: chunked(zname, zText[:len(zText)-10], 0, 1024),
		},
		{
			name: "zstd inflates beyond declared size", absent: td, substr: "beyond the declared size",
			reqs: chunked(zname, inflating, 0, 1024),
		},
		{
			name: "zstd stream without finish_write", absent: td, substr: "without finish_write",
			reqs: []*bspb.WriteRequest{{ResourceName: zname, Data: zText}},
		},
		{
			name: "zstd resumed at an offset", absent: td, substr: "cannot be resumed",
			reqs: []*bspb.WriteRequest{{ResourceName: zname, WriteOffset: 10, Data: zText, FinishWrite: true}},
		},
		{name: "short hash", substr: "length 4", reqs: []*bspb.WriteRequest{{ResourceName: "uploads/u/blobs/0123/3", Data: []byte("abc"), FinishWrite: true}}},
		{name: "non-hex hash", substr: "hex", reqs: []*bspb.WriteRequest{{ResourceName: "uploads/u/blobs/" + hashA[:63] + "g/1", Data: []byte("a"), FinishWrite: true}}},
		{name: "negative size", substr: "negative", reqs: []*bspb.WriteRequest{{ResourceName: "uploads/u/blobs/" + hashA + "/-1", FinishWrite: true}}},
		{name: "read resource name", substr: "uploads", reqs: []*bspb.WriteRequest{{ResourceName: "blobs/" + d.String(), Data: data, FinishWrite: true}}},
		{name: "unknown digest function", substr: "sha1", reqs: []*bspb.WriteRequest{{ResourceName: "uploads/u/blobs/sha1/" + hashA[:40] + "/1", Data: []byte("a"), FinishWrite: true}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.write(ctx, tc.reqs...)
			wantCode(t, err, codes.InvalidArgument, tc.substr)
			if tc.absent.Hash != "" {
				e.assertAbsent(t, tc.absent)
			}
			e.assertNoTemps(t)
			if n := e.server.PendingUploads(); n != 0 {
				t.Errorf("%d uploads kept after a refused write, want 0", n)
			}
		})
	}
	t.Run("good writes after the bad ones", func(t *testing.T) {
		if _, err := e.write(ctx, chunked(name, data, 0, 64<<10)...); err != nil {
			t.Fatalf("Write: %v", err)
		}
		e.assertPresent(t, d, data)
		if _, err := e.write(ctx, chunked(zname, zText, 0, 4096)...); err != nil {
			t.Fatalf("zstd Write: %v", err)
		}
		e.assertPresent(t, td, text)
		e.assertNoTemps(t)
	})
}

func TestByteStreamResumableWrite(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	data := randomBytes(4<<20, 21)
	d := digest.OfBytes(data)
	name := uploadName(d)

	// First attempt: 2.5 MiB sent, then the stream breaks.
	sctx, cancel := context.WithCancel(ctx)
	stream, err := e.bs.Write(sctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, r := range chunked(name, data[:5<<19], 0, 512<<10) {
		r.FinishWrite = false
		if err := stream.Send(r); err != nil {
			t.Fatalf("Send: %v", err)
		}
		sent += len(r.Data)
	}
	// Wait until the server has taken what was sent, then break the stream.
	committed := waitCommitted(t, e, name, int64(sent))
	cancel()
	e.assertAbsent(t, d)

	// The upload survives the broken stream, once the server's call has
	// ended.
	e.calls.waitActive(t, 0)
	st, err := e.bs.QueryWriteStatus(ctx, &bspb.QueryWriteStatusRequest{ResourceName: name})
	if err != nil {
		t.Fatalf("QueryWriteStatus: %v", err)
	}
	if st.CommittedSize != committed || st.Complete {
		t.Fatalf("QueryWriteStatus = %v, want committed_size %d, not complete", st, committed)
	}

	// Second attempt: a half-closed stream without finish_write reports
	// its progress and keeps the upload.
	resp, err := e.write(ctx, &bspb.WriteRequest{ResourceName: name, WriteOffset: committed, Data: data[committed : committed+1000]})
	if err != nil || resp.CommittedSize != committed+1000 {
		t.Fatalf("Write without finish = %v, %v; want committed_size %d", resp, err, committed+1000)
	}
	committed += 1000

	// Third attempt resumes and finishes.
	resp, err = e.write(ctx, chunked(name, data[committed:], committed, 256<<10)...)
	if err != nil {
		t.Fatalf("resumed Write: %v", err)
	}
	if resp.CommittedSize != d.Size {
		t.Errorf("committed_size %d, want %d", resp.CommittedSize, d.Size)
	}
	e.assertPresent(t, d, data)
	st, err = e.bs.QueryWriteStatus(ctx, &bspb.QueryWriteStatusRequest{ResourceName: name})
	if err != nil || !st.Complete || st.CommittedSize != d.Size {
		t.Errorf("QueryWriteStatus after commit = %v, %v; want complete with %d", st, err, d.Size)
	}
	if n := e.server.PendingUploads(); n != 0 {
		t.Errorf("%d uploads kept after commit, want 0", n)
	}
	e.assertNoTemps(t)

	t.Run("restart from zero", func(t *testing.T) {
		data := randomBytes(1<<20, 22)
		d := digest.OfBytes(data)
		name := uploadName(d)
		if resp, err := e.write(ctx, &bspb.WriteRequest{ResourceName: name, Data: data[:1000]}); err != nil || resp.CommittedSize != 1000 {
			t.Fatalf("partial Write = %v, %v", resp, err)
		}
		if _, err := e.write(ctx, chunked(name, data, 0, 300<<10)...); err != nil {
			t.Fatalf("Write from 0: %v", err)
		}
		e.assertPresent(t, d, data)
	})
	t.Run("unknown upload", func(t *testing.T) {
		st, err := e.bs.QueryWriteStatus(ctx, &bspb.QueryWriteStatusRequest{ResourceName: uploadName(digest.OfBytes([]byte("nobody")))})
		if err != nil || st.CommittedSize != 0 || st.Complete {
			t.Errorf("QueryWriteStatus = %v, %v; want 0, not complete", st, err)
		}
		_, err = e.bs.QueryWriteStatus(ctx, &bspb.QueryWriteStatusRequest{ResourceName: "uploads/x/blobs/0123/1"})
		wantCode(t, err, codes.InvalidArgument, "length")
	})
}

// waitCommitted polls QueryWriteStatus until the upload reaches want bytes.
func waitCommitted(t *testing.T, e *env, name string, want int64) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.bs.QueryWriteStatus(context.Background(), &bspb.QueryWriteStatusRequest{ResourceName: name})
		if err != nil {
			t.Fatalf("QueryWriteStatus: %v", err)
		}
		if st.CommittedSize == want {
			return want
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed_size stuck at %d, want %d", st.CommittedSize, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAbandonedUploadsAreCollected(t *testing.T) {
	e := newEnv(t, func(o *reapi.Options) { o.UploadIdleTimeout = 100 * time.Millisecond })
	ctx := context.Background()
	data := randomBytes(1<<20, 31)
	d := digest.OfBytes(data)
	if resp, err := e.write(ctx, &bspb.WriteRequest{ResourceName: uploadName(d), Data: data[:4096]}); err != nil || resp.CommittedSize != 4096 {
		t.Fatalf("partial Write = %v, %v", resp, err)
	}
	if n := e.server.PendingUploads(); n != 1 {
		t.Fatalf("%d uploads kept, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.server.PendingUploads() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("abandoned upload still kept after %v", 5*time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.assertAbsent(t, d)
	e.assertNoTemps(t)
	st, err := e.bs.QueryWriteStatus(ctx, &bspb.QueryWriteStatusRequest{ResourceName: uploadName(d)})
	if err != nil || st.CommittedSize != 0 {
		t.Errorf("QueryWriteStatus after collection = %v, %v; want committed_size 0", st, err)
	}
}

func TestConcurrentUploadsOfOneBlob(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	data := randomBytes(2<<20, 41)
	d := digest.OfBytes(data)
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			name := fmt.Sprintf("uploads/%d/blobs/%s", i, d)
			resp, err := e.write(ctx, chunked(name, data, 0, 128<<10)...)
			if err == nil && resp.CommittedSize != d.Size {
				err = fmt.Errorf("committed_size %d, want %d", resp.CommittedSize, d.Size)
			}
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Errorf("upload: %v", err)
		}
	}
	e.assertPresent(t, d, data)
	e.assertNoTemps(t)
	_ = repb.Compressor_ZSTD
}
