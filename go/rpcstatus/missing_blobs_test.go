package rpcstatus_test

import (
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	var got []string
	for _, d := range st.Details() {
		pf, ok := d.(*errdetails.PreconditionFailure)
		if !ok {
			t.Fatalf("detail %T, want *errdetails.PreconditionFailure", d)
		}
		for _, v := range pf.GetViolations() {
			got = append(got, v.GetType()+" "+v.GetSubject())
		}
	}
	want := []string{"MISSING blobs/bbbb/2", "MISSING blobs/aaaa/10"}
	if !slices.Equal(got, want) {
		t.Errorf("violations = %q, want %q", got, want)
	}
	// Wrapping keeps the detail, so callers may add context.
	if n := len(status.Convert(rpcstatus.Wrapf(err, "prepare")).Details()); n != 1 {
		t.Errorf("wrapped: %d details, want 1", n)
	}
}
