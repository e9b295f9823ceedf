package digest_test

import (
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/digest"
)

func TestCheckFunction(t *testing.T) {
	tests := []struct {
		f    repb.DigestFunction_Value
		want codes.Code
	}{
		{repb.DigestFunction_UNKNOWN, codes.OK},
		{repb.DigestFunction_SHA256, codes.OK},
		{repb.DigestFunction_SHA1, codes.InvalidArgument},
		{repb.DigestFunction_MD5, codes.InvalidArgument},
		{repb.DigestFunction_SHA384, codes.InvalidArgument},
		{repb.DigestFunction_SHA256TREE, codes.InvalidArgument},
		{repb.DigestFunction_BLAKE3, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.f.String(), func(t *testing.T) {
			if got := status.Code(digest.CheckFunction(tc.f)); got != tc.want {
				t.Errorf("CheckFunction(%s) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
}
