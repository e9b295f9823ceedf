package execroot

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/rpcstatus"
)

// outputKind says which Command field an output came from, which decides
// both what may be created for it and where its result goes.
type outputKind int

const (
	outFile outputKind = iota // output_files (REAPI 2.0)
	outDir                    // output_directories (REAPI 2.0)
	outPath                   // output_paths (REAPI 2.1+)
)

// output is one validated output path.
type output struct {
	kind outputKind
	rel  string   // as given, relative to the working directory
	full []string // components relative to the input root
}

// commandOutputs validates the working directory and the output paths of
// cmd. output_paths, when present, supersedes the deprecated fields, as
// REAPI 2.1 says.
func commandOutputs(cmd *repb.Command) (wd []string, outs []output, err error) {
	wd, err = splitRelPath(cmd.GetWorkingDirectory(), true)
	if err != nil {
		return nil, nil, rpcstatus.Newf(codes.InvalidArgument, "working directory %q: %v", cmd.GetWorkingDirectory(), err)
	}
	add := func(kind outputKind, field string, paths []string, allowEmpty bool) error {
		for _, p := range paths {
			comps, err := splitRelPath(p, allowEmpty)
			if err != nil {
				return rpcstatus.Newf(codes.InvalidArgument, "%s %q: %v", field, p, err)
			}
			full := make([]string, 0, len(wd)+len(comps))
			full = append(append(full, wd...), comps...)
			if len(full) > maxDepth {
				return rpcstatus.Newf(codes.InvalidArgument, "%s %q: more than %d components below the input root", field, p, maxDepth)
			}
			outs = append(outs, output{kind: kind, rel: p, full: full})
		}
		return nil
	}
	if len(cmd.GetOutputPaths()) > 0 {
		err = add(outPath, "output path", cmd.GetOutputPaths(), true)
	} else if err = add(outFile, "output file", cmd.GetOutputFiles(), false); err == nil {
		err = add(outDir, "output directory", cmd.GetOutputDirectories(), true)
	}
	if err != nil {
		return nil, nil, err
	}
	return wd, outs, nil
}

// splitRelPath checks a REAPI relative path: no leading or trailing '/', no
// empty, '.', '..' or NUL components, within PATH_MAX and NAME_MAX. Without
// '..' a relative path cannot escape the tree it is relative to. The empty
// path (the directory itself) is allowed only where REAPI allows it.
func splitRelPath(p string, allowEmpty bool) ([]string, error) {
	if p == "" {
		if allowEmpty {
			return nil, nil
		}
		return nil, errors.New("empty path")
	}
	if len(p) > maxPathLen {
		return nil, fmt.Errorf("longer than %d bytes", maxPathLen)
	}
	if p[0] == '/' {
		return nil, errors.New("absolute path")
	}
	if p[len(p)-1] == '/' {
		return nil, errors.New("trailing '/'")
	}
	comps := strings.Split(p, "/")
	if len(comps) > maxDepth {
		return nil, fmt.Errorf("more than %d components", maxDepth)
	}
	for _, c := range comps {
		switch {
		case c == "":
			return nil, errors.New("empty component")
		case c == "." || c == "..":
			return nil, fmt.Errorf("component %q is not allowed", c)
		case strings.IndexByte(c, 0) >= 0:
			return nil, errors.New("component contains NUL")
		case len(c) > maxNameLen:
			return nil, fmt.Errorf("component longer than %d bytes", maxNameLen)
		}
	}
	return comps, nil
}

// plan is what Prepare derives from the Command and the input tree: the
// directories to create because the input tree lacks them (output parents
// and the working directory; they go into the cached lower tree, so a
// repeated action creates nothing), and the subtrees to bind-mount from the
// directory cache instead of materializing.
type plan struct {
	mkdirs []string     // relative to the input root, parents first
	binds  []bindTarget // sorted by path; never nested
	// mutable: the action may change all its inputs (PrepareOptions, or
	// the input root itself is an output directory).
	mutable bool
	// unlocked are the input directories (relative, sorted) the action is
	// to replace or change, so they are its own: an input directory that
	// is an output directory, with everything below it (a "/" suffix
	// marks those), and the directory of an input file that is an output
	// file, without its subdirectories.
	unlocked []string
}

// inputDirs is the ownership of the lower tree's input directories.
func (p plan) inputDirs() dirOwnership {
	if p.mutable {
		return actionOwnedDir
	}
	return lockedInputDir
}

// rootUnlocked says whether the input root's own entries are the action's
// (the merged root directory is the upper one, which Prepare then gives to
// the action).
func (p plan) rootUnlocked() bool {
	return p.mutable || slices.Contains(p.unlocked, "")
}

type bindTarget struct {
	rel   string // relative to the input root, never empty
	dir   digest.Digest
	files int64
}

// planFor checks the working directory and every output's parents against
// the input tree (a parent that is an input file or symlink is
// INVALID_ARGUMENT), lists the missing ones for creation, and picks the
// subtrees to bind from the directory cache: a subtree with at least
// threshold files that holds no output, is not inside an output directory
// and does not contain the working directory. A mutable plan binds nothing:
// the binds are read-only.
func planFor(t *inputTree, wd []string, outs []output, threshold int64, mutable bool) (plan, error) {
	p := plan{mutable: mutable}
	created := make(map[string]bool)
	ensure := func(comps []string, what string) error {
		cur := t.dirs[t.root]
		for i, c := range comps {
			k, idx := cur.lookup(c)
			switch k {
			case kindDir:
				cur = cur.subs[idx]
				continue
			case kindFile, kindSymlink:
				return rpcstatus.Newf(codes.InvalidArgument, "%s: %q is an input %s, so it cannot be a parent directory", what, strings.Join(comps[:i+1], "/"), map[lookupKind]string{kindFile: "file", kindSymlink: "symlink"}[k])
			}
			for j := i + 1; j <= len(comps); j++ {
				rel := strings.Join(comps[:j], "/")
				if !created[rel] {
					created[rel] = true
					p.mkdirs = append(p.mkdirs, rel)
				}
			}
			return nil
		}
		return nil
	}
	if err := ensure(wd, fmt.Sprintf("working directory %q", strings.Join(wd, "/"))); err != nil {
		return plan{}, err
	}
	// Subtrees on the way to an output or the working directory are
	// "ancestors"; subtrees at or below an output are "inside". Neither may
	// be bound read-only.
	ancestors := map[string]bool{"": true}
	inside := make(map[string]bool)
	mark := func(comps []string) {
		for j := 1; j <= len(comps); j++ {
			ancestors[strings.Join(comps[:j], "/")] = true
		}
	}
	mark(wd)
	for _, o := range outs {
		if len(o.full) > 0 {
			if err := ensure(o.full[:len(o.full)-1], fmt.Sprintf("output %q", o.rel)); err != nil {
				return plan{}, err
			}
		}
		mark(o.full)
		inside[strings.Join(o.full, "/")] = true
		switch kind := t.kindOf(o.full); {
		case kind == kindDir:
			p.unlocked = append(p.unlocked, strings.Join(o.full, "/")+"/")
		case kind != kindNone && len(o.full) > 0:
			p.unlocked = append(p.unlocked, strings.Join(o.full[:len(o.full)-1], "/"))
		}
	}
	sort.Strings(p.unlocked)
	p.unlocked = slices.Compact(p.unlocked)
	if inside[""] {
		// The input root is an output directory: all of it is the action's.
		p.mutable, p.unlocked = true, nil
	}
	if p.mutable {
		p.unlocked = nil
	}
	if inside[""] || p.mutable {
		return p, nil
	}
	var walk func(d *inputDir, prefix string)
	walk = func(d *inputDir, prefix string) {
		for i, sub := range d.dir.Directories {
			rel := prefix + sub.Name
			child := d.subs[i]
			switch {
			case inside[rel]:
			case ancestors[rel]:
				walk(child, rel+"/")
			case child.files >= threshold:
				p.binds = append(p.binds, bindTarget{rel: rel, dir: d.subDigs[i], files: child.files})
			}
		}
	}
	walk(t.dirs[t.root], "")
	if len(p.binds) > maxBinds {
		// Every bind is a mount (and a read-only remount) in the sandbox;
		// keep the largest subtrees and link the rest into the lower tree.
		sort.SliceStable(p.binds, func(i, j int) bool { return p.binds[i].files > p.binds[j].files })
		p.binds = p.binds[:maxBinds]
		sort.Slice(p.binds, func(i, j int) bool { return p.binds[i].rel < p.binds[j].rel })
	}
	return p, nil
}

// maxBinds caps the read-only binds per action: each costs the sandbox a
// mount and a read-only remount on the action's critical path.
const maxBinds = 16
