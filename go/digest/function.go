package digest

import (
	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
)

// CheckFunction accepts the digest functions actiond serves: SHA-256, named
// or left unset (the spec lets clients omit it and has the server infer it
// from the hash length, which New checks). Any other is INVALID_ARGUMENT.
func CheckFunction(f repb.DigestFunction_Value) error {
	switch f {
	case repb.DigestFunction_UNKNOWN, repb.DigestFunction_SHA256:
		return nil
	}
	return rpcstatus.Newf(codes.InvalidArgument, "digest function %s is not supported (supported: SHA256)", f)
}
