// Package digest holds REAPI SHA-256 digests: their validation, formatting
// and the ByteStream resource names that carry them.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/rpcstatus"
)

// HashLength is the length of a SHA-256 hash in lowercase hex.
const HashLength = 64

// Digest identifies a blob by its SHA-256 hash and size. The zero value is
// not valid; use Empty for the empty blob.
type Digest struct {
	Hash string
	Size int64
}

// Empty is the digest of the blob with no bytes.
var Empty = Digest{Hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Size: 0}

// New validates hash and size and returns the digest. Errors are
// INVALID_ARGUMENT.
func New(hash string, size int64) (Digest, error) {
	if len(hash) != HashLength {
		return Digest{}, rpcstatus.Newf(codes.InvalidArgument, "digest hash %q has length %d, want %d hex characters of SHA-256", truncate(hash), len(hash), HashLength)
	}
	for i := 0; i < len(hash); i++ {
		c := hash[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return Digest{}, rpcstatus.Newf(codes.InvalidArgument, "digest hash %q is not lowercase hex", hash)
		}
	}
	if size < 0 {
		return Digest{}, rpcstatus.Newf(codes.InvalidArgument, "digest %s has negative size %d", hash, size)
	}
	return Digest{Hash: hash, Size: size}, nil
}

// FromProto validates a REAPI digest. A nil digest is INVALID_ARGUMENT.
func FromProto(d *repb.Digest) (Digest, error) {
	if d == nil {
		return Digest{}, rpcstatus.Newf(codes.InvalidArgument, "digest is missing")
	}
	return New(d.GetHash(), d.GetSizeBytes())
}

// Parse reads the "hash/size" or "hash-size" form.
func Parse(s string) (Digest, error) {
	i := strings.LastIndexAny(s, "/-")
	if i < 0 {
		return Digest{}, rpcstatus.Newf(codes.InvalidArgument, "digest %q is not of the form hash/size", truncate(s))
	}
	size, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil {
		return Digest{}, rpcstatus.Newf(codes.InvalidArgument, "digest %q has a bad size: %v", truncate(s), err)
	}
	return New(s[:i], size)
}

// OfBytes returns the digest of b.
func OfBytes(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest{Hash: hex.EncodeToString(sum[:]), Size: int64(len(b))}
}

// OfReader hashes everything r yields.
func OfReader(r io.Reader) (Digest, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Digest{}, err
	}
	return Digest{Hash: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// OfMessage marshals m deterministically and returns the bytes and digest.
func OfMessage(m proto.Message) ([]byte, Digest, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, Digest{}, err
	}
	return b, OfBytes(b), nil
}

// Proto returns the REAPI form.
func (d Digest) Proto() *repb.Digest {
	return &repb.Digest{Hash: d.Hash, SizeBytes: d.Size}
}

// String returns "hash/size", the form used in resource names and logs.
func (d Digest) String() string {
	return d.Hash + "/" + strconv.FormatInt(d.Size, 10)
}

// FileName returns "hash-size", a form safe in a single path component.
func (d Digest) FileName() string {
	return d.Hash + "-" + strconv.FormatInt(d.Size, 10)
}

// IsEmpty reports whether d is the empty blob.
func (d Digest) IsEmpty() bool { return d == Empty }

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Errorf is a helper for messages naming a digest.
func (d Digest) Errorf(code codes.Code, format string, args ...any) error {
	return rpcstatus.Newf(code, "blob %s: %s", d, fmt.Sprintf(format, args...))
}
