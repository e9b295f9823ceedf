package reapi_test

import (
	"context"
	"math"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/bazelbuild/remote-apis/build/bazel/semver"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/reapi"
)

func TestGetCapabilities(t *testing.T) {
	cache := &repb.CacheCapabilities{
		DigestFunctions:                 []repb.DigestFunction_Value{repb.DigestFunction_SHA256},
		ActionCacheUpdateCapabilities:   &repb.ActionCacheUpdateCapabilities{UpdateEnabled: true},
		MaxBatchTotalSizeBytes:          4 << 20,
		SymlinkAbsolutePathStrategy:     repb.SymlinkAbsolutePathStrategy_DISALLOWED,
		SupportedCompressors:            []repb.Compressor_Value{repb.Compressor_ZSTD},
		SupportedBatchUpdateCompressors: []repb.Compressor_Value{repb.Compressor_ZSTD},
	}
	tests := []struct {
		name string
		opts func(*reapi.Options)
		want *repb.ServerCapabilities
	}{
		{
			name: "storage only",
			want: &repb.ServerCapabilities{
				CacheCapabilities: cache,
				LowApiVersion:     &semver.SemVer{Major: 2},
				HighApiVersion:    &semver.SemVer{Major: 2, Minor: 3},
			},
		},
		{
			name: "with execution and a custom batch limit",
			opts: func(o *reapi.Options) { o.ExecutionEnabled = true; o.MaxBatchTotalSizeBytes = 1 << 20 },
			want: &repb.ServerCapabilities{
				CacheCapabilities: func() *repb.CacheCapabilities {
					c := proto.Clone(cache).(*repb.CacheCapabilities)
					c.MaxBatchTotalSizeBytes = 1 << 20
					return c
				}(),
				ExecutionCapabilities: &repb.ExecutionCapabilities{
					DigestFunction:  repb.DigestFunction_SHA256,
					ExecEnabled:     true,
					DigestFunctions: []repb.DigestFunction_Value{repb.DigestFunction_SHA256},
					ExecutionPriorityCapabilities: &repb.PriorityCapabilities{
						Priorities: []*repb.PriorityCapabilities_PriorityRange{{MinPriority: math.MinInt32, MaxPriority: math.MaxInt32}},
					},
				},
				LowApiVersion:  &semver.SemVer{Major: 2},
				HighApiVersion: &semver.SemVer{Major: 2, Minor: 3},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			got, err := e.caps.GetCapabilities(context.Background(), &repb.GetCapabilitiesRequest{InstanceName: "any/instance"})
			if err != nil {
				t.Fatalf("GetCapabilities: %v", err)
			}
			if !proto.Equal(got, tc.want) {
				t.Errorf("GetCapabilities =\n%s\nwant\n%s", prototext.Format(got), prototext.Format(tc.want))
			}
		})
	}
}
