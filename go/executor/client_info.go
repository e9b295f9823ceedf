package executor

import (
	"context"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// requestMetadataKey is the binary header in which REAPI clients describe
// the request (RequestMetadata).
const requestMetadataKey = "build.bazel.remote.execution.v2.requestmetadata-bin"

// ClientInfo is what the client said about the action in its request
// metadata; every field may be empty (Bazel 4 sends no mnemonic, for
// example).
type ClientInfo struct {
	Mnemonic string
	TargetID string
	// Tool is the client's name and version, e.g. "bazel 7.4.1".
	Tool string
}

// clientInfoFrom reads the RequestMetadata header of an incoming call. A
// missing or malformed header gives an empty ClientInfo: it is only ever
// displayed.
func clientInfoFrom(ctx context.Context) ClientInfo {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ClientInfo{}
	}
	vals := md.Get(requestMetadataKey)
	if len(vals) == 0 {
		return ClientInfo{}
	}
	var rm repb.RequestMetadata
	if err := proto.Unmarshal([]byte(vals[0]), &rm); err != nil {
		return ClientInfo{}
	}
	info := ClientInfo{
		Mnemonic: printable(rm.GetActionMnemonic()),
		TargetID: printable(rm.GetTargetId()),
		Tool:     printable(rm.GetToolDetails().GetToolName()),
	}
	if v := printable(rm.GetToolDetails().GetToolVersion()); v != "" && info.Tool != "" {
		info.Tool += " " + v
	}
	return info
}

// printable keeps the first 200 bytes of s with control characters
// replaced, so that a client cannot fill the status page or a terminal
// with escape sequences.
func printable(s string) string {
	const limit = 200
	if len(s) > limit {
		s = s[:limit]
	}
	b := []rune(s)
	for i, r := range b {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			b[i] = '?'
		}
	}
	return string(b)
}
