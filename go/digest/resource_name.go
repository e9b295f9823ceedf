package digest

import (
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
)

// Compressor names a ByteStream compressed-blobs encoding.
type Compressor string

// The compressors actiond understands. Identity means plain bytes.
const (
	Identity Compressor = ""
	Zstd     Compressor = "zstd"
)

// ResourceName is a parsed ByteStream resource name.
type ResourceName struct {
	InstanceName string
	UploadID     string // set for write resources only
	Compressor   Compressor
	Digest       Digest
}

var reservedSegments = map[string]bool{
	"blobs": true, "uploads": true, "actions": true, "actionResults": true,
	"operations": true, "capabilities": true, "compressed-blobs": true,
}

// ParseReadResourceName parses
// "{instance}/blobs/{hash}/{size}" or
// "{instance}/compressed-blobs/{compressor}/{hash}/{size}".
func ParseReadResourceName(name string) (ResourceName, error) {
	return parseResourceName(name, false)
}

// ParseWriteResourceName parses
// "{instance}/uploads/{uuid}/blobs/{hash}/{size}{/metadata}" or
// "{instance}/uploads/{uuid}/compressed-blobs/{compressor}/{hash}/{size}{/metadata}".
func ParseWriteResourceName(name string) (ResourceName, error) {
	return parseResourceName(name, true)
}

func parseResourceName(name string, write bool) (ResourceName, error) {
	bad := func(why string) (ResourceName, error) {
		return ResourceName{}, rpcstatus.Newf(codes.InvalidArgument, "resource name %q: %s", truncate(name), why)
	}
	parts := strings.Split(name, "/")
	// Find the first reserved segment: everything before it is the instance name.
	i := 0
	for i < len(parts) && !reservedSegments[parts[i]] {
		i++
	}
	if i == len(parts) {
		if write {
			return bad("want {instance}/uploads/{uuid}/blobs/{hash}/{size}")
		}
		return bad("want {instance}/blobs/{hash}/{size}")
	}
	rn := ResourceName{InstanceName: strings.Join(parts[:i], "/")}
	rest := parts[i:]
	if write {
		if rest[0] != "uploads" || len(rest) < 2 || rest[1] == "" {
			return bad("want {instance}/uploads/{uuid}/blobs/{hash}/{size}")
		}
		rn.UploadID = rest[1]
		rest = rest[2:]
	}
	if len(rest) == 0 {
		return bad("missing blobs/{hash}/{size}")
	}
	switch rest[0] {
	case "blobs":
		rest = rest[1:]
	case "compressed-blobs":
		if len(rest) < 2 {
			return bad("missing compressor")
		}
		switch rest[1] {
		case "zstd":
			rn.Compressor = Zstd
		case "identity":
			rn.Compressor = Identity
		default:
			return ResourceName{}, rpcstatus.Newf(codes.InvalidArgument, "resource name %q: compressor %q is not supported (supported: zstd)", truncate(name), rest[1])
		}
		rest = rest[2:]
	default:
		return bad("want blobs or compressed-blobs after the instance name")
	}
	// An optional digest function segment; only sha256 is supported.
	if len(rest) > 2 && digestFunctions[rest[0]] {
		if rest[0] != "sha256" {
			return ResourceName{}, rpcstatus.Newf(codes.InvalidArgument, "resource name %q: digest function %q is not supported (supported: sha256)", truncate(name), rest[0])
		}
		rest = rest[1:]
	}
	if len(rest) < 2 {
		return bad("missing {hash}/{size}")
	}
	if !write && len(rest) > 2 {
		return bad("unexpected segments after {size}")
	}
	size, err := strconv.ParseInt(rest[1], 10, 64)
	if err != nil {
		return bad("size " + strconv.Quote(rest[1]) + " is not an integer")
	}
	d, err := New(rest[0], size)
	if err != nil {
		return ResourceName{}, rpcstatus.Wrapf(err, "resource name %q", truncate(name))
	}
	rn.Digest = d
	return rn, nil
}

// digestFunctions are the lowercase DigestFunction.Value names a resource
// name may carry before the hash; only sha256 is supported.
var digestFunctions = map[string]bool{
	"sha256": true, "sha1": true, "md5": true, "vso": true, "sha384": true,
	"sha512": true, "murmur3": true, "sha256tree": true, "blake3": true,
}
