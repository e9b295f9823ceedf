package reapi

import (
	"context"
	"log/slog"
	"strings"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// actionCacheServer serves the ActionCache from the cache, inlining small
// outputs from the store when the client asks.
type actionCacheServer struct {
	repb.UnimplementedActionCacheServer
	logger       *slog.Logger
	store        Store
	cache        ActionCache
	inlineBudget int64
}

func newActionCacheServer(opts Options) *actionCacheServer {
	return &actionCacheServer{logger: opts.Logger, store: opts.Store, cache: opts.ActionCache, inlineBudget: opts.InlineBudgetBytes}
}

// actionDigest checks a request's digest function and parses its
// action_digest.
func actionDigest(f repb.DigestFunction_Value, pd *repb.Digest) (digest.Digest, error) {
	if err := digest.CheckFunction(f); err != nil {
		return digest.Digest{}, err
	}
	d, err := digest.FromProto(pd)
	if err != nil {
		return digest.Digest{}, rpcstatus.Wrapf(err, "action_digest")
	}
	return d, nil
}

func (s *actionCacheServer) GetActionResult(ctx context.Context, req *repb.GetActionResultRequest) (*repb.ActionResult, error) {
	d, err := actionDigest(req.GetDigestFunction(), req.GetActionDigest())
	if err != nil {
		return nil, err
	}
	res, err := s.cache.Get(ctx, d)
	if err != nil {
		return nil, rpcstatus.Wrapf(err, "action %s", d)
	}
	if req.GetInlineStdout() || req.GetInlineStderr() || len(req.GetInlineOutputFiles()) > 0 {
		res = proto.Clone(res).(*repb.ActionResult)
		if err := s.inline(ctx, res, req); err != nil {
			return nil, rpcstatus.Wrapf(err, "action %s", d)
		}
	}
	return res, nil
}

// inline fills stdout_raw, stderr_raw and output file contents as asked,
// in that order, while they fit in the budget. The spec lets the server
// skip any of them; the budget keeps the response well under message
// limits. A referenced blob that has gone missing makes the whole result a
// miss (NOT_FOUND), so the client runs the action again instead of failing
// to fetch an output.
func (s *actionCacheServer) inline(ctx context.Context, res *repb.ActionResult, req *repb.GetActionResultRequest) error {
	budget := s.inlineBudget
	fetch := func(pd *repb.Digest) ([]byte, error) {
		d, err := digest.FromProto(pd)
		if err != nil || d.Size == 0 || d.Size > budget {
			return nil, nil
		}
		data, err := s.store.ReadAll(ctx, d, d.Size)
		if err != nil {
			if rpcstatus.Code(err) == codes.NotFound {
				return nil, rpcstatus.Wrapf(err, "output blob %s", d)
			}
			s.logger.WarnContext(ctx, "not inlining output", slog.String("digest", d.String()), slog.Any("error", err))
			return nil, nil
		}
		budget -= d.Size
		return data, nil
	}
	var err error
	if req.GetInlineStdout() && len(res.StdoutRaw) == 0 && res.StdoutDigest != nil {
		if res.StdoutRaw, err = fetch(res.StdoutDigest); err != nil {
			return err
		}
	}
	if req.GetInlineStderr() && len(res.StderrRaw) == 0 && res.StderrDigest != nil {
		if res.StderrRaw, err = fetch(res.StderrDigest); err != nil {
			return err
		}
	}
	if len(req.GetInlineOutputFiles()) > 0 {
		want := make(map[string]bool, len(req.GetInlineOutputFiles()))
		for _, p := range req.GetInlineOutputFiles() {
			want[p] = true
		}
		for _, f := range res.OutputFiles {
			if want[f.GetPath()] && len(f.Contents) == 0 {
				if f.Contents, err = fetch(f.GetDigest()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (s *actionCacheServer) UpdateActionResult(ctx context.Context, req *repb.UpdateActionResultRequest) (*repb.ActionResult, error) {
	d, err := actionDigest(req.GetDigestFunction(), req.GetActionDigest())
	if err != nil {
		return nil, err
	}
	res := req.GetActionResult()
	if res == nil {
		return nil, rpcstatus.Newf(codes.InvalidArgument, "action %s: action_result is missing", d)
	}
	if err := validateActionResult(res); err != nil {
		return nil, rpcstatus.Wrapf(err, "action %s", d)
	}
	if err := s.cache.Put(ctx, d, res); err != nil {
		return nil, rpcstatus.Wrapf(err, "action %s", d)
	}
	return res, nil
}

// validateActionResult checks the digests and paths a client uploads, so
// that a malformed result is INVALID_ARGUMENT here rather than a surprise
// for whoever reads it from the cache.
func validateActionResult(res *repb.ActionResult) error {
	optional := func(pd *repb.Digest, field string) error {
		if pd == nil {
			return nil
		}
		_, err := digest.FromProto(pd)
		return rpcstatus.Wrapf(err, "%s", field)
	}
	if err := optional(res.StdoutDigest, "stdout_digest"); err != nil {
		return err
	}
	if err := optional(res.StderrDigest, "stderr_digest"); err != nil {
		return err
	}
	for i, f := range res.OutputFiles {
		if err := checkOutputPath(f.GetPath(), false); err != nil {
			return rpcstatus.Wrapf(err, "output_files[%d]", i)
		}
		if _, err := digest.FromProto(f.GetDigest()); err != nil {
			return rpcstatus.Wrapf(err, "output_files[%d] %q", i, f.GetPath())
		}
	}
	for i, dir := range res.OutputDirectories {
		if err := checkOutputPath(dir.GetPath(), true); err != nil {
			return rpcstatus.Wrapf(err, "output_directories[%d]", i)
		}
		if _, err := digest.FromProto(dir.GetTreeDigest()); err != nil {
			return rpcstatus.Wrapf(err, "output_directories[%d] %q tree_digest", i, dir.GetPath())
		}
		if err := optional(dir.GetRootDirectoryDigest(), "root_directory_digest"); err != nil {
			return rpcstatus.Wrapf(err, "output_directories[%d] %q", i, dir.GetPath())
		}
	}
	symlinks := [][]*repb.OutputSymlink{res.OutputSymlinks, res.OutputFileSymlinks, res.OutputDirectorySymlinks}
	for _, list := range symlinks {
		for i, l := range list {
			if err := checkOutputPath(l.GetPath(), false); err != nil {
				return rpcstatus.Wrapf(err, "output symlink %d", i)
			}
			if l.GetTarget() == "" {
				return rpcstatus.Newf(codes.InvalidArgument, "output symlink %q has an empty target", l.GetPath())
			}
		}
	}
	return nil
}

// checkOutputPath requires a relative path without "." or ".." segments.
// Only an output directory may be the working directory itself ("").
func checkOutputPath(p string, emptyOK bool) error {
	if p == "" {
		if emptyOK {
			return nil
		}
		return rpcstatus.Newf(codes.InvalidArgument, "path is empty")
	}
	if strings.HasPrefix(p, "/") {
		return rpcstatus.Newf(codes.InvalidArgument, "path %q is absolute", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return rpcstatus.Newf(codes.InvalidArgument, "path %q is not a clean relative path", p)
		}
	}
	return nil
}
