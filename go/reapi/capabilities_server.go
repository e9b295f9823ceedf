package reapi

import (
	"context"
	"math"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/bazelbuild/remote-apis/build/bazel/semver"
)

// capabilitiesServer answers GetCapabilities with what this package and,
// when enabled, the Execution service support. The answer is the same for
// every instance name.
type capabilitiesServer struct {
	repb.UnimplementedCapabilitiesServer
	caps *repb.ServerCapabilities
}

func newCapabilitiesServer(opts Options) *capabilitiesServer {
	caps := &repb.ServerCapabilities{
		CacheCapabilities: &repb.CacheCapabilities{
			DigestFunctions: []repb.DigestFunction_Value{repb.DigestFunction_SHA256},
			ActionCacheUpdateCapabilities: &repb.ActionCacheUpdateCapabilities{
				UpdateEnabled: true,
			},
			MaxBatchTotalSizeBytes: opts.MaxBatchTotalSizeBytes,
			// The executor keeps symlinks as symlinks and rejects input
			// symlinks with absolute targets, which is what DISALLOWED
			// promises.
			SymlinkAbsolutePathStrategy:     repb.SymlinkAbsolutePathStrategy_DISALLOWED,
			SupportedCompressors:            []repb.Compressor_Value{repb.Compressor_ZSTD},
			SupportedBatchUpdateCompressors: []repb.Compressor_Value{repb.Compressor_ZSTD},
		},
		LowApiVersion:  &semver.SemVer{Major: 2, Minor: 0},
		HighApiVersion: &semver.SemVer{Major: 2, Minor: 3},
	}
	if opts.ExecutionEnabled {
		caps.ExecutionCapabilities = &repb.ExecutionCapabilities{
			DigestFunction:  repb.DigestFunction_SHA256,
			ExecEnabled:     true,
			DigestFunctions: []repb.DigestFunction_Value{repb.DigestFunction_SHA256},
			// Any priority: lower values run first (executor.Options.Jobs).
			ExecutionPriorityCapabilities: &repb.PriorityCapabilities{
				Priorities: []*repb.PriorityCapabilities_PriorityRange{{MinPriority: math.MinInt32, MaxPriority: math.MaxInt32}},
			},
		}
	}
	return &capabilitiesServer{caps: caps}
}

func (s *capabilitiesServer) GetCapabilities(ctx context.Context, req *repb.GetCapabilitiesRequest) (*repb.ServerCapabilities, error) {
	return s.caps, nil
}
