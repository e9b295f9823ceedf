package digest_test

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// checkDigest fails unless d is what New accepts: 64 lowercase hex
// characters and a size that is not negative.
func checkDigest(t *testing.T, what string, d digest.Digest) {
	t.Helper()
	if len(d.Hash) != digest.HashLength || strings.Trim(d.Hash, "0123456789abcdef") != "" || d.Size < 0 {
		t.Fatalf("%s: accepted the invalid digest %q/%d", what, d.Hash, d.Size)
	}
}

// canonicalName writes rn back as a resource name in the form the parsers
// document.
func canonicalName(rn digest.ResourceName, write bool) string {
	var parts []string
	if rn.InstanceName != "" {
		parts = append(parts, rn.InstanceName)
	}
	if write {
		parts = append(parts, "uploads", rn.UploadID)
	}
	if rn.Compressor == digest.Identity {
		parts = append(parts, "blobs")
	} else {
		parts = append(parts, "compressed-blobs", string(rn.Compressor))
	}
	return strings.Join(append(parts, rn.Digest.Hash, strconv.FormatInt(rn.Digest.Size, 10)), "/")
}

// FuzzResourceName parses ByteStream resource names, the first thing a
// Read, Write or QueryWriteStatus looks at. Every refusal must be
// INVALID_ARGUMENT; an accepted name must carry a valid digest, an
// instance name without reserved segments, an upload ID only for writes,
// and parse back to the same value when written in canonical form.
func FuzzResourceName(f *testing.F) {
	for _, s := range []string{
		"blobs/" + h + "/0",
		"inst/blobs/" + h + "/12",
		"a/b/c/compressed-blobs/zstd/" + h + "/5",
		"compressed-blobs/identity/sha256/" + h + "/5",
		"uploads/0b5c-11/blobs/" + h + "/3",
		"inst/uploads/u/compressed-blobs/zstd/" + h + "/3/meta/data",
		"uploads/u/blobs/sha1/" + h + "/3",
		"blobs/" + h + "/+7",
		"blobs/" + h + "/-1",
		"blobs/" + strings.ToUpper(h) + "/1",
		"/blobs/" + h + "/1",
		"uploads//blobs/" + h + "/1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, write := range []bool{false, true} {
			parse := digest.ParseReadResourceName
			if write {
				parse = digest.ParseWriteResourceName
			}
			rn, err := parse(name)
			if err != nil {
				if code := rpcstatus.Code(err); code != codes.InvalidArgument {
					t.Fatalf("parse(%q, write=%v): code %v (%v), want InvalidArgument", name, write, code, err)
				}
				continue
			}
			checkDigest(t, name, rn.Digest)
			for _, seg := range strings.Split(rn.InstanceName, "/") {
				switch seg {
				case "blobs", "uploads", "compressed-blobs", "actions", "actionResults", "operations", "capabilities":
					t.Fatalf("parse(%q): instance name %q holds the reserved segment %q", name, rn.InstanceName, seg)
				}
			}
			if write != (rn.UploadID != "") {
				t.Fatalf("parse(%q, write=%v): upload ID %q", name, write, rn.UploadID)
			}
			if rn.Compressor != digest.Identity && rn.Compressor != digest.Zstd {
				t.Fatalf("parse(%q): compressor %q", name, rn.Compressor)
			}
			canon := canonicalName(rn, write)
			again, err := parse(canon)
			if err != nil || again != rn {
				t.Fatalf("parse(%q) = %+v, but its canonical form %q parses to %+v, %v", name, rn, canon, again, err)
			}
		}
	})
}

// FuzzParse parses "hash/size" digests (as in logs and flags): refusals
// are INVALID_ARGUMENT, and an accepted digest is valid and round-trips
// through String and FileName.
func FuzzParse(f *testing.F) {
	for _, s := range []string{h + "/0", h + "-12", "x/1", h + "/", h + "/-1", h + "/99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := digest.Parse(s)
		if err != nil {
			if code := rpcstatus.Code(err); code != codes.InvalidArgument {
				t.Fatalf("Parse(%q): code %v (%v), want InvalidArgument", s, code, err)
			}
			return
		}
		checkDigest(t, s, d)
		for _, form := range []string{d.String(), d.FileName()} {
			if again, err := digest.Parse(form); err != nil || again != d {
				t.Fatalf("Parse(%q) = %v, but Parse(%q) = %v, %v", s, d, form, again, err)
			}
		}
	})
}
