//go:build linux

package sandbox

import (
	"fmt"
	"path"

	"github.com/actiond/actiond/go/sandbox/internal/initproc"
)

// nobody is the uid and gid a command runs as when the Spec names none.
const nobody = 65534

// initConfigFor validates spec and turns it into the configuration of an
// init that mounts its root on rootDir; errors wrap ErrInvalidSpec.
func initConfigFor(spec Spec, rootDir string, rootless bool) (initproc.Config, error) {
	invalid := func(format string, args ...any) (initproc.Config, error) {
		return initproc.Config{}, fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return invalid("no command")
	}
	if spec.Stdout == "" || spec.Stderr == "" {
		return invalid("stdout and stderr files are required")
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	if !isCleanAbs(dir) {
		return invalid("working directory %q is not a clean absolute path", dir)
	}
	for _, m := range spec.Mounts {
		if !isCleanAbs(m.Target) || m.Target == "/" {
			return invalid("mount target %q is not a clean absolute path below /", m.Target)
		}
		switch m.Kind {
		case Bind:
			if !path.IsAbs(m.Source) {
				return invalid("bind source %q is not absolute", m.Source)
			}
		case Overlay:
			if len(m.Lower) == 0 {
				return invalid("overlay on %s has no lower directory", m.Target)
			}
			if (m.Upper == "") != (m.Work == "") {
				return invalid("overlay on %s needs both upper and work directories or neither", m.Target)
			}
			for _, d := range append(append([]string{}, m.Lower...), m.Upper, m.Work) {
				if d != "" && !path.IsAbs(d) {
					return invalid("overlay directory %q is not absolute", d)
				}
			}
		case Tmpfs:
		default:
			return invalid("mount on %s has unknown kind %d", m.Target, m.Kind)
		}
	}
	uid, gid := spec.UID, spec.GID
	if uid == 0 {
		uid = nobody
	}
	if gid == 0 {
		gid = nobody
	}
	return initproc.Config{
		Root: rootDir, Args: spec.Args, Env: spec.Env, Dir: dir, Mounts: spec.Mounts,
		Stdout: spec.Stdout, Stderr: spec.Stderr, UID: uid, GID: gid, Rootless: rootless,
	}, nil
}

func isCleanAbs(p string) bool { return path.IsAbs(p) && path.Clean(p) == p }
