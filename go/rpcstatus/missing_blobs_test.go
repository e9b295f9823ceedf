package rpcstatus_test

import (
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/rpcstatus"
)

// blob stands in for digest.Digest, whose String is "hash/size".
type blob string

func (b blob) String() string { return string(b) }

func TestMissingBlobs(t *testing.T) {
	err := rpcstatus.MissingBlobs([]blob{"bbbb/2", "aaaa/10"}, "input root %s: %d blobs missing", "r/1", 2)
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition || st.Message() != "input root r/1: 2 blobs missing" {
		t.Errorf("status = %v %q, want FailedPrecondition %q", st.Code(), st.Message(), "input root r/1: 2 blobs missing")
	}
	details := st.Details()
	if len(details) != 1 {
		t.Fatalf("details = %v, want one PreconditionFailure", details)
	}
	pf, ok := details[0].(*errdetails.PreconditionFailure)
	if !ok {
		t.Fatalf("detail %T, want *errdetails.PreconditionFailure", details[0])
	}
	want := []*errdetails.PreconditionFailure_Violation{
		{Type: "MISSING", Subject: "blobs/bbbb/2"},
		{Type: "MISSING", Subject: "blobs/aaaa/10"},
	}
	if got := pf.GetViolations(); !slices.EqualFunc(got, want, func(a, b *errdetails.PreconditionFailure_Violation) bool {
		return proto.Equal(a, b)
	}) {
		t.Errorf("violations = %v, want %v", got, want)
	}
	// Wrapping keeps the detail, so callers may add context.
	if n := len(status.Convert(rpcstatus.Wrapf(err, "prepare")).Details()); n != 1 {
		t.Errorf("wrapped: %d details, want 1", n)
	}
}
