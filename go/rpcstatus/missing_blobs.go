package rpcstatus

import (
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MissingBlobs returns the error REAPI specifies for blobs absent from the
// CAS: FAILED_PRECONDITION with the formatted message and a
// google.rpc.PreconditionFailure detail holding one violation per blob, in
// the order given, of type "MISSING" and subject "blobs/{hash}/{size}". That
// subject is a ByteStream read resource name without the instance name; the
// digest function segment is omitted, as the spec requires for SHA-256. Each
// blob's String must be its "{hash}/{size}" form, as digest.Digest's is
// (this package cannot import digest, which builds its errors here).
// Clients such as Bazel upload the listed blobs and retry.
func MissingBlobs[B fmt.Stringer](blobs []B, format string, args ...any) error {
	pf := &errdetails.PreconditionFailure{Violations: make([]*errdetails.PreconditionFailure_Violation, 0, len(blobs))}
	for _, b := range blobs {
		pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
			Type:    "MISSING",
			Subject: "blobs/" + b.String(),
		})
	}
	st := status.New(codes.FailedPrecondition, fmt.Sprintf(format, args...))
	if withDetails, err := st.WithDetails(pf); err == nil {
		st = withDetails
	}
	return st.Err()
}
