package reapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi"
)

const hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// badDigests are malformed in each way a client can get a digest wrong.
var badDigests = []struct {
	name   string
	digest *repb.Digest
	substr string
}{
	{"short hash", &repb.Digest{Hash: "abc", SizeBytes: 3}, "length 3"},
	{"long hash", &repb.Digest{Hash: hashA + "aa", SizeBytes: 3}, "length 66"},
	{"non-hex hash", &repb.Digest{Hash: strings.Repeat("zz", 32), SizeBytes: 3}, "not lowercase hex"},
	{"uppercase hash", &repb.Digest{Hash: strings.ToUpper(hashA), SizeBytes: 3}, "not lowercase hex"},
	{"negative size", &repb.Digest{Hash: hashA, SizeBytes: -1}, "negative size"},
	{"missing digest", nil, ""},
}

func TestFindMissingBlobs(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	present := e.put(t, []byte("present"))
	missing := digest.OfBytes([]byte("missing"))
	resp, err := e.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{
		InstanceName: "some/instance",
		BlobDigests:  []*repb.Digest{present.Proto(), missing.Proto(), digest.Empty.Proto()},
	})
	if err != nil {
		t.Fatalf("FindMissingBlobs: %v", err)
	}
	if len(resp.MissingBlobDigests) != 1 || !proto.Equal(resp.MissingBlobDigests[0], missing.Proto()) {
		t.Errorf("missing = %v, want only %s", resp.MissingBlobDigests, missing)
	}

	for _, tc := range badDigests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{present.Proto(), tc.digest}})
			wantCode(t, err, codes.InvalidArgument, tc.substr)
			if err != nil && !strings.Contains(err.Error(), "blob_digests[1]") {
				t.Errorf("error %q does not name blob_digests[1]", err)
			}
		})
	}
	for _, f := range []repb.DigestFunction_Value{repb.DigestFunction_SHA1, repb.DigestFunction_MD5, repb.DigestFunction_BLAKE3} {
		t.Run("digest function "+f.String(), func(t *testing.T) {
			_, err := e.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{present.Proto()}, DigestFunction: f})
			wantCode(t, err, codes.InvalidArgument, f.String())
		})
	}
	// Explicit SHA256 works like unset.
	if _, err := e.cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{present.Proto()}, DigestFunction: repb.DigestFunction_SHA256}); err != nil {
		t.Errorf("FindMissingBlobs with SHA256: %v", err)
	}
}

func TestBatchUpdateBlobs(t *testing.T) {
	e := newEnv(t, func(o *reapi.Options) { o.MaxBatchTotalSizeBytes = 1 << 20 })
	ctx := context.Background()

	plain := []byte("plain blob")
	text := compressible(100 << 10)
	inflating := compressible(20 << 10)
	wrong := []byte("these bytes")
	type entry struct {
		name   string
		req    *repb.BatchUpdateBlobsRequest_Request
		code   codes.Code
		substr string
		stored []byte // bytes that must now be in the store, when OK
		absent digest.Digest
	}
	entries := []entry{
		{name: "identity", req: &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes(plain).Proto(), Data: plain}, stored: plain},
		{name: "zstd", req: &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes(text).Proto(), Data: zstdCompress(t, text), Compressor: repb.Compressor_ZSTD}, stored: text},
		{name: "empty", req: &repb.BatchUpdateBlobsRequest_Request{Digest: digest.Empty.Proto()}, stored: []byte{}},
		{
			name: "bytes do not match digest", code: codes.InvalidArgument, substr: "hashes to",
			req:    &repb.BatchUpdateBlobsRequest_Request{Digest: mustDigest(t, strings.Repeat("ab", 32), int64(len(wrong))).Proto(), Data: wrong},
			absent: mustDigest(t, strings.Repeat("ab", 32), int64(len(wrong))),
		},
		{
			name: "size does not match digest", code: codes.InvalidArgument, substr: "want 5",
			req:    &repb.BatchUpdateBlobsRequest_Request{Digest: mustDigest(t, digest.OfBytes(wrong).Hash, 5).Proto(), Data: wrong},
			absent: mustDigest(t, digest.OfBytes(wrong).Hash, 5),
		},
		{name: "malformed digest", req: &repb.BatchUpdateBlobsRequest_Request{Digest: &repb.Digest{Hash: "nothex", SizeBytes: 1}, Data: []byte("x")}, code: codes.InvalidArgument, substr: "length"},
		{
			name: "corrupt zstd", code: codes.InvalidArgument, substr: "zstd",
			req:    &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes([]byte("corrupt")).Proto(), Data: []byte("this is not zstd at all"), Compressor: repb.Compressor_ZSTD},
			absent: digest.OfBytes([]byte("corrupt")),
		},
		{
			name: "zstd inflates beyond declared size", code: codes.InvalidArgument, substr: "beyond the declared size",
			req:    &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes(inflating[:100]).Proto(), Data: zstdCompress(t, inflating), Compressor: repb.Compressor_ZSTD},
			absent: digest.OfBytes(inflating[:100]),
		},
		{
			name: "zstd inflates short of declared size", code: codes.InvalidArgument, substr: "inflates to 100 bytes",
			req:    &repb.BatchUpdateBlobsRequest_Request{Digest: mustDigest(t, hashA, 200).Proto(), Data: zstdCompress(t, inflating[:100]), Compressor: repb.Compressor_ZSTD},
			absent: mustDigest(t, hashA, 200),
		},
		{
			name: "unsupported compressor", code: codes.InvalidArgument, substr: "DEFLATE",
			req:    &repb.BatchUpdateBlobsRequest_Request{Digest: digest.OfBytes([]byte("deflate")).Proto(), Data: []byte("deflate"), Compressor: repb.Compressor_DEFLATE},
			absent: digest.OfBytes([]byte("deflate")),
		},
	}
	req := &repb.BatchUpdateBlobsRequest{InstanceName: "x"}
	for _, en := range entries {
		req.Requests = append(req.Requests, en.req)
	}
	resp, err := e.cas.BatchUpdateBlobs(ctx, req)
	if err != nil {
		t.Fatalf("BatchUpdateBlobs: %v", err)
	}
	if len(resp.Responses) != len(entries) {
		t.Fatalf("got %d responses, want %d", len(resp.Responses), len(entries))
	}
	for i, en := range entries {
		t.Run(en.name, func(t *testing.T) {
			r := resp.Responses[i]
			if !proto.Equal(r.Digest, en.req.Digest) {
				t.Errorf("response digest %v, want the request's %v", r.Digest, en.req.Digest)
			}
			if got := codes.Code(r.Status.GetCode()); got != en.code {
				t.Fatalf("status %v (%q), want %v", got, r.Status.GetMessage(), en.code)
			}
			if !strings.Contains(r.Status.GetMessage(), en.substr) {
				t.Errorf("message %q does not contain %q", r.Status.GetMessage(), en.substr)
			}
			if en.stored != nil {
				e.assertPresent(t, digest.OfBytes(en.stored), en.stored)
			}
			if en.absent.Hash != "" {
				e.assertAbsent(t, en.absent)
			}
			e.assertNoTemps(t)
		})
	}

	t.Run("oversized batch", func(t *testing.T) {
		big := randomBytes(600<<10, 1)
		big2 := randomBytes(600<<10, 2)
		_, err := e.cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{
			{Digest: digest.OfBytes(big).Proto(), Data: big},
			{Digest: digest.OfBytes(big2).Proto(), Data: big2},
		}})
		wantCode(t, err, codes.InvalidArgument, "max_batch_total_size_bytes")
		e.assertAbsent(t, digest.OfBytes(big))
		e.assertNoTemps(t)
	})
	t.Run("declared sizes above the limit", func(t *testing.T) {
		// A tiny zstd bomb claiming to inflate to 1 TiB.
		_, err := e.cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{
			{Digest: mustDigest(t, hashA, 1<<40).Proto(), Data: zstdCompress(t, make([]byte, 1<<20)), Compressor: repb.Compressor_ZSTD},
		}})
		wantCode(t, err, codes.InvalidArgument, "max_batch_total_size_bytes")
	})
	t.Run("far beyond the gRPC message limit", func(t *testing.T) {
		huge := make([]byte, 70<<20)
		_, err := e.cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{
			{Digest: digest.OfBytes(huge).Proto(), Data: huge},
		}})
		wantCode(t, err, codes.ResourceExhausted, "")
	})
	t.Run("unknown digest function", func(t *testing.T) {
		_, err := e.cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{DigestFunction: repb.DigestFunction_SHA384, Requests: []*repb.BatchUpdateBlobsRequest_Request{
			{Digest: digest.OfBytes(plain).Proto(), Data: plain},
		}})
		wantCode(t, err, codes.InvalidArgument, "SHA384")
	})
	// The server still serves after all that.
	after := []byte("after the bad requests")
	resp, err = e.cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{{Digest: digest.OfBytes(after).Proto(), Data: after}}})
	if err != nil || resp.Responses[0].Status.GetCode() != 0 {
		t.Fatalf("BatchUpdateBlobs after errors: %v %v", err, resp)
	}
	e.assertPresent(t, digest.OfBytes(after), after)
	e.assertNoTemps(t)
}

func TestBatchReadBlobs(t *testing.T) {
	e := newEnv(t, func(o *reapi.Options) { o.MaxBatchTotalSizeBytes = 1 << 20 })
	ctx := context.Background()
	small := e.put(t, []byte("small"))
	textData := compressible(64 << 10)
	text := e.put(t, textData)
	noise := randomBytes(8<<10, 3)
	noisy := e.put(t, noise)
	missing := digest.OfBytes([]byte("never stored"))

	t.Run("identity", func(t *testing.T) {
		resp, err := e.cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{Digests: []*repb.Digest{
			small.Proto(), text.Proto(), missing.Proto(), {Hash: "bad", SizeBytes: 1}, digest.Empty.Proto(),
		}})
		if err != nil {
			t.Fatalf("BatchReadBlobs: %v", err)
		}
		want := []struct {
			code codes.Code
			data []byte
		}{{codes.OK, []byte("small")}, {codes.OK, textData}, {codes.NotFound, nil}, {codes.InvalidArgument, nil}, {codes.OK, []byte{}}}
		for i, w := range want {
			r := resp.Responses[i]
			if got := codes.Code(r.Status.GetCode()); got != w.code {
				t.Errorf("response %d: status %v (%q), want %v", i, got, r.Status.GetMessage(), w.code)
			}
			if string(r.Data) != string(w.data) || r.Compressor != repb.Compressor_IDENTITY {
				t.Errorf("response %d: %d bytes compressor %v, want %d identity bytes", i, len(r.Data), r.Compressor, len(w.data))
			}
		}
	})
	t.Run("zstd accepted", func(t *testing.T) {
		resp, err := e.cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{
			Digests:               []*repb.Digest{text.Proto(), noisy.Proto(), small.Proto()},
			AcceptableCompressors: []repb.Compressor_Value{repb.Compressor_ZSTD},
		})
		if err != nil {
			t.Fatalf("BatchReadBlobs: %v", err)
		}
		r := resp.Responses[0]
		if r.Compressor != repb.Compressor_ZSTD || len(r.Data) >= len(textData) {
			t.Errorf("text blob: compressor %v, %d bytes; want ZSTD and fewer than %d", r.Compressor, len(r.Data), len(textData))
		} else if got := zstdDecompress(t, r.Data); string(got) != string(textData) {
			t.Errorf("text blob inflates to %d different bytes", len(got))
		}
		// Incompressible and tiny blobs come back as they are.
		for i, want := range [][]byte{noise, []byte("small")} {
			r := resp.Responses[i+1]
			if r.Compressor != repb.Compressor_IDENTITY || string(r.Data) != string(want) {
				t.Errorf("response %d: compressor %v, %d bytes; want the %d plain bytes", i+1, r.Compressor, len(r.Data), len(want))
			}
		}
	})
	t.Run("oversized batch", func(t *testing.T) {
		_, err := e.cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{Digests: []*repb.Digest{mustDigest(t, hashA, 2<<20).Proto()}})
		wantCode(t, err, codes.InvalidArgument, "max_batch_total_size_bytes")
	})
	t.Run("unknown digest function", func(t *testing.T) {
		_, err := e.cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{Digests: []*repb.Digest{small.Proto()}, DigestFunction: repb.DigestFunction_VSO})
		wantCode(t, err, codes.InvalidArgument, "VSO")
	})
}

func dirNode(name string, d digest.Digest) *repb.DirectoryNode {
	return &repb.DirectoryNode{Name: name, Digest: d.Proto()}
}

// getTree collects every page of a GetTree call.
func (e *env) getTree(ctx context.Context, req *repb.GetTreeRequest) ([]*repb.GetTreeResponse, error) {
	return drain(e.cas.GetTree(ctx, req))
}

func TestGetTree(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	leaf := &repb.Directory{Files: []*repb.FileNode{{Name: "f", Digest: digest.Empty.Proto()}}}
	leafD := e.putMessage(t, leaf)
	a := &repb.Directory{Directories: []*repb.DirectoryNode{dirNode("leaf", leafD)}}
	aD := e.putMessage(t, a)
	b := &repb.Directory{Directories: []*repb.DirectoryNode{dirNode("leaf", leafD)}, Symlinks: []*repb.SymlinkNode{{Name: "l", Target: "x"}}}
	bD := e.putMessage(t, b)
	root := &repb.Directory{Directories: []*repb.DirectoryNode{dirNode("a", aD), dirNode("b", bD)}}
	rootD := e.putMessage(t, root)
	wantAll := []*repb.Directory{root, a, b, leaf} // breadth first, each once

	names := func(dirs []*repb.Directory) string {
		var s []string
		for _, d := range dirs {
			for i, w := range wantAll {
				if proto.Equal(d, w) {
					s = append(s, []string{"root", "a", "b", "leaf"}[i])
				}
			}
		}
		return strings.Join(s, ",")
	}

	t.Run("one page", func(t *testing.T) {
		pages, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: rootD.Proto()})
		if err != nil {
			t.Fatalf("GetTree: %v", err)
		}
		if len(pages) != 1 || pages[0].NextPageToken != "" {
			t.Fatalf("got %d pages (token %q), want 1 final page", len(pages), pages[0].GetNextPageToken())
		}
		if got, want := names(pages[0].Directories), "root,a,b,leaf"; got != want {
			t.Errorf("directories %s, want %s", got, want)
		}
	})
	t.Run("paged and resumed", func(t *testing.T) {
		pages, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: rootD.Proto(), PageSize: 3})
		if err != nil {
			t.Fatalf("GetTree: %v", err)
		}
		if len(pages) != 2 || names(pages[0].Directories) != "root,a,b" || names(pages[1].Directories) != "leaf" || pages[1].NextPageToken != "" {
			t.Fatalf("pages: %v", pages)
		}
		// Resume from the first page's token, as a client whose stream broke.
		rest, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: rootD.Proto(), PageSize: 3, PageToken: pages[0].NextPageToken})
		if err != nil {
			t.Fatalf("GetTree with page_token: %v", err)
		}
		if len(rest) != 1 || names(rest[0].Directories) != "leaf" {
			t.Errorf("resumed pages: %v, want just leaf", rest)
		}
	})
	t.Run("missing subdirectory is omitted", func(t *testing.T) {
		gone := digest.OfBytes([]byte("no such directory"))
		r := &repb.Directory{Directories: []*repb.DirectoryNode{dirNode("gone", gone), dirNode("a", aD)}}
		pages, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: e.putMessage(t, r).Proto()})
		if err != nil {
			t.Fatalf("GetTree: %v", err)
		}
		if got := len(pages[0].Directories); got != 3 {
			t.Errorf("got %d directories, want root, a and leaf", got)
		}
	})
	t.Run("missing root", func(t *testing.T) {
		_, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: digest.OfBytes([]byte("no root")).Proto()})
		wantCode(t, err, codes.NotFound, "")
	})
	t.Run("directory that is not a Directory proto", func(t *testing.T) {
		junk := e.put(t, []byte{0xff, 0xff, 0xff, 0xff, 0xff})
		r := &repb.Directory{Directories: []*repb.DirectoryNode{dirNode("junk", junk)}}
		_, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: e.putMessage(t, r).Proto()})
		wantCode(t, err, codes.InvalidArgument, junk.String())
	})
	t.Run("malformed child digest", func(t *testing.T) {
		r := &repb.Directory{Directories: []*repb.DirectoryNode{{Name: "bad", Digest: &repb.Digest{Hash: "xyz", SizeBytes: 1}}}}
		_, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: e.putMessage(t, r).Proto()})
		wantCode(t, err, codes.InvalidArgument, `"bad"`)
	})
	t.Run("bad page token", func(t *testing.T) {
		_, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: rootD.Proto(), PageToken: "bogus"})
		wantCode(t, err, codes.InvalidArgument, "page_token")
	})
	for _, tc := range badDigests {
		t.Run("root "+tc.name, func(t *testing.T) {
			_, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: tc.digest})
			wantCode(t, err, codes.InvalidArgument, tc.substr)
		})
	}
	t.Run("unknown digest function", func(t *testing.T) {
		_, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: rootD.Proto(), DigestFunction: repb.DigestFunction_SHA512})
		wantCode(t, err, codes.InvalidArgument, "SHA512")
	})
	t.Run("wide tree spans several pages", func(t *testing.T) {
		r := &repb.Directory{}
		for i := 0; i < 25; i++ {
			d := e.putMessage(t, &repb.Directory{Symlinks: []*repb.SymlinkNode{{Name: "n", Target: fmt.Sprint(i)}}})
			r.Directories = append(r.Directories, dirNode(fmt.Sprintf("d%02d", i), d))
		}
		pages, err := e.getTree(ctx, &repb.GetTreeRequest{RootDigest: e.putMessage(t, r).Proto(), PageSize: 10})
		if err != nil {
			t.Fatalf("GetTree: %v", err)
		}
		var sizes []int
		for _, p := range pages {
			sizes = append(sizes, len(p.Directories))
		}
		if fmt.Sprint(sizes) != "[10 10 6]" {
			t.Errorf("page sizes %v, want [10 10 6]", sizes)
		}
	})
}
