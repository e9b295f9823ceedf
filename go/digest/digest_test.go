package digest_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/digest"
)

const h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		hash string
		size int64
		ok   bool
	}{
		{"empty blob", h, 0, true},
		{"short", h[:63], 1, false},
		{"long", h + "0", 1, false},
		{"uppercase", strings.ToUpper(h), 1, false},
		{"non-hex", "g" + h[1:], 1, false},
		{"negative", h, -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := digest.New(tc.hash, tc.size)
			if (err == nil) != tc.ok {
				t.Fatalf("New(%q, %d) err = %v, want ok=%v", tc.hash, tc.size, err, tc.ok)
			}
			if err != nil && status.Code(err) != codes.InvalidArgument {
				t.Errorf("code = %v, want InvalidArgument", status.Code(err))
			}
		})
	}
}

func TestOfBytes(t *testing.T) {
	if got := digest.OfBytes(nil); got != digest.Empty {
		t.Errorf("OfBytes(nil) = %v, want %v", got, digest.Empty)
	}
	d, err := digest.Parse(digest.OfBytes([]byte("x")).String())
	if err != nil || d != digest.OfBytes([]byte("x")) {
		t.Errorf("Parse(String()) = %v, %v", d, err)
	}
}

func TestParseResourceNames(t *testing.T) {
	tests := []struct {
		name     string
		write    bool
		want     digest.ResourceName
		wantCode codes.Code
	}{
		{name: "blobs/" + h + "/0", want: digest.ResourceName{Digest: digest.Empty}},
		{name: "main/blobs/" + h + "/0", want: digest.ResourceName{InstanceName: "main", Digest: digest.Empty}},
		{name: "a/b/blobs/sha256/" + h + "/0", want: digest.ResourceName{InstanceName: "a/b", Digest: digest.Empty}},
		{name: "compressed-blobs/zstd/" + h + "/0", want: digest.ResourceName{Compressor: digest.Zstd, Digest: digest.Empty}},
		{name: "compressed-blobs/brotli/" + h + "/0", wantCode: codes.InvalidArgument},
		{name: "blobs/blake3/" + h + "/0", wantCode: codes.InvalidArgument},
		{name: "blobs/" + h + "/-1", wantCode: codes.InvalidArgument},
		{name: "blobs/" + h + "/x", wantCode: codes.InvalidArgument},
		{name: "blobs/abc/1", wantCode: codes.InvalidArgument},
		{name: "blobs/sha256/abc/1", wantCode: codes.InvalidArgument},
		{name: "blobs/" + h + "/0/extra", wantCode: codes.InvalidArgument},
		{name: "nothing", wantCode: codes.InvalidArgument},
		{name: "main/uploads/u1/blobs/" + h + "/0/meta", write: true, want: digest.ResourceName{InstanceName: "main", UploadID: "u1", Digest: digest.Empty}},
		{name: "uploads/u1/compressed-blobs/zstd/" + h + "/0", write: true, want: digest.ResourceName{UploadID: "u1", Compressor: digest.Zstd, Digest: digest.Empty}},
		{name: "main/blobs/" + h + "/0", write: true, wantCode: codes.InvalidArgument},
		{name: "uploads//blobs/" + h + "/0", write: true, wantCode: codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parse := digest.ParseReadResourceName
			if tc.write {
				parse = digest.ParseWriteResourceName
			}
			got, err := parse(tc.name)
			if status.Code(err) != tc.wantCode {
				t.Fatalf("parse(%q) err = %v, want code %v", tc.name, err, tc.wantCode)
			}
			if err == nil && got != tc.want {
				t.Errorf("parse(%q) = %+v, want %+v", tc.name, got, tc.want)
			}
		})
	}
}
