package runtimes

import (
	"os"
	"path"
	"strings"
)

// Provider is a runtime whose mounts hold a given sandbox path: Kind is
// KindLibc, KindRootfs or KindShell (bash), Name its name.
type Provider struct {
	Kind, Name string
}

// Providers returns the runtimes that would put something at the sandbox
// path p (absolute), so that an action missing p can be told which exec
// property brings it: the libc runtimes first, then the rootfs ones, then
// bash, each sorted by name.
func (c *Catalog) Providers(p string) []Provider {
	var out []Provider
	for _, name := range c.sorted {
		if mountsHold(c.libcs[name], p) {
			out = append(out, Provider{KindLibc, name})
		}
	}
	for _, name := range c.rootfsSorted {
		if mountsHold(c.rootfs[name].mounts, p) {
			out = append(out, Provider{KindRootfs, name})
		}
	}
	if c.hasSh && mountsHold(c.shell, p) {
		out = append(out, Provider{KindShell, "bash"})
	}
	return out
}

// mountsHold reports whether one of mounts puts an entry at p: p is its
// target or below it, and the source has the rest of the path.
func mountsHold(mounts []Mount, p string) bool {
	p = path.Clean(p)
	for _, m := range mounts {
		rest, ok := strings.CutPrefix(p, m.Target)
		if !ok || rest != "" && !strings.HasPrefix(rest, "/") {
			continue
		}
		if _, err := os.Lstat(m.Source + rest); err == nil {
			return true
		}
	}
	return false
}
