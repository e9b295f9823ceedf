package runtimes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
)

// ErrUnknownRuntime is wrapped by every error Mounts returns for a runtime
// the image does not have. The executor maps it to INVALID_ARGUMENT: the
// action asked for something this worker cannot provide.
var ErrUnknownRuntime = errors.New("unknown runtime")

// ErrConflictingRuntimes is wrapped by the errors Mounts returns for a
// Request whose parts cannot hold together: a libc beside a rootfs, which
// brings its own, or requires-bash with a rootfs that has no /bin/bash.
// The executor maps it to INVALID_ARGUMENT.
var ErrConflictingRuntimes = errors.New("conflicting runtimes")

// UnknownRuntimeError names a requested runtime and the ones that exist.
// It matches ErrUnknownRuntime with errors.Is.
type UnknownRuntimeError struct {
	// Kind is the kind of runtime asked for (KindLibc, KindShell,
	// KindRootfs), or "" when it does not matter.
	Kind string
	// Requested is the libc or runtime value asked for, or "bash" for
	// requires-bash.
	Requested string
	// Arch is the architecture the catalog serves.
	Arch string
	// Available lists the runtimes of that kind in the image, sorted.
	Available []string
}

func (e *UnknownRuntimeError) Error() string {
	available := "none"
	if len(e.Available) > 0 {
		available = strings.Join(e.Available, ", ")
	}
	what := "runtime"
	if e.Kind != "" {
		what = e.Kind + " runtime"
	}
	return fmt.Sprintf("%s %q is not in the runtime image for %s (available: %s)", what, e.Requested, e.Arch, available)
}

// Is makes errors.Is(err, ErrUnknownRuntime) true.
func (e *UnknownRuntimeError) Is(target error) bool { return target == ErrUnknownRuntime }

// Request says which runtimes an action asks for.
type Request struct {
	// Libc names a libc runtime (the libc exec property); "" or "none"
	// selects none.
	Libc string
	// Rootfs names a rootfs runtime (the runtime exec property); ""
	// selects none.
	Rootfs string
	// Bash asks for /bin/bash (requires-bash): the static bash runtime, or
	// the rootfs's own bash when Rootfs is set.
	Bash bool
}

// Mount is one read-only bind mount into the sandbox.
type Mount struct {
	// Source is an absolute host path inside the image.
	Source string
	// Target is the absolute path in the sandbox.
	Target string
}

// Catalog lists the runtimes an image holds for one architecture. It is
// immutable and safe for concurrent use.
type Catalog struct {
	arch   string
	etc    string
	libcs  map[string][]Mount
	shell  []Mount
	hasSh  bool
	sorted []string
	rootfs map[string]rootfsRuntime
	// rootfsSorted lists the keys of rootfs, sorted.
	rootfsSorted []string
}

// rootfsRuntime is one runtime of KindRootfs.
type rootfsRuntime struct {
	root    string // the runtime's root/ directory
	mounts  []Mount
	hasBash bool
}

// reservedTargets are the sandbox paths a rootfs runtime may not mount on:
// the sandbox makes them itself (see sandbox.Spec.Mounts), and /etc comes
// from the image's common etc, the same for every kind.
var reservedTargets = []string{"/dev", "/proc", "/sys", "/tmp", "/etc"}

// Open scans the unpacked or mounted image at dir for runtimes of the host
// architecture.
func Open(ctx context.Context, dir string) (*Catalog, error) {
	arch := ArchForGOARCH(goruntime.GOARCH)
	if arch == "" {
		return nil, fmt.Errorf("no runtimes exist for GOARCH %s", goruntime.GOARCH)
	}
	return OpenArch(ctx, dir, arch)
}

// OpenArch is Open for a given architecture ("x86_64", "aarch64").
func OpenArch(ctx context.Context, dir, arch string) (*Catalog, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Catalog{
		arch:   arch,
		etc:    filepath.Join(abs, "common", "root", "etc"),
		libcs:  map[string][]Mount{},
		rootfs: map[string]rootfsRuntime{},
	}
	if err := requireDir(c.etc); err != nil {
		return nil, fmt.Errorf("runtime image %s: %w", abs, err)
	}
	// owner maps every runtime name to the directory that defines it: one
	// name for two runtimes would make error messages and the image's
	// listing ambiguous, so it is refused even across kinds.
	owner := map[string]string{}
	claim := func(name, runtimeDir string) error {
		if prev, ok := owner[name]; ok {
			return fmt.Errorf("runtime image %s: runtime name %q is used by both %s and %s", abs, name, prev, runtimeDir)
		}
		owner[name] = runtimeDir
		return nil
	}
	err = forEachRuntime(ctx, abs, KindLibc, arch, func(runtimeDir string) error {
		m, mounts, err := loadRuntime(runtimeDir, KindLibc, arch)
		if err != nil {
			return err
		}
		if err := claim(m.Name, runtimeDir); err != nil {
			return err
		}
		c.libcs[m.Name] = mounts
		c.sorted = append(c.sorted, m.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(c.sorted)
	shellDir := filepath.Join(abs, "shell", "bash", arch)
	if _, err := os.Stat(filepath.Join(shellDir, ManifestFileName)); err == nil {
		m, mounts, err := loadRuntime(shellDir, KindShell, arch)
		if err != nil {
			return nil, err
		}
		if err := claim(m.Name, shellDir); err != nil {
			return nil, err
		}
		c.shell, c.hasSh = mounts, true
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	err = forEachRuntime(ctx, abs, KindRootfs, arch, func(runtimeDir string) error {
		m, mounts, err := loadRuntime(runtimeDir, KindRootfs, arch)
		if err != nil {
			return err
		}
		if err := claim(m.Name, runtimeDir); err != nil {
			return err
		}
		for _, mount := range mounts {
			for _, reserved := range reservedTargets {
				if mount.Target == reserved || strings.HasPrefix(mount.Target, reserved+"/") {
					return fmt.Errorf("%s: rootfs runtime %s mounts on %s, which the sandbox provides", runtimeDir, m.Name, mount.Target)
				}
			}
		}
		root := filepath.Join(runtimeDir, "root")
		c.rootfs[m.Name] = rootfsRuntime{root: root, mounts: mounts, hasBash: isExecutable(filepath.Join(root, "bin", "bash"))}
		c.rootfsSorted = append(c.rootfsSorted, m.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(c.rootfsSorted)
	return c, nil
}

// forEachRuntime calls fn with each <kind>/<name>/<arch> directory of the
// image that has a manifest, checking that the manifest's name is <name>.
func forEachRuntime(ctx context.Context, image, kind, arch string, fn func(runtimeDir string) error) error {
	dirs, err := os.ReadDir(filepath.Join(image, kind))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("runtime image %s: %w", image, err)
	}
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		runtimeDir := filepath.Join(image, kind, d.Name(), arch)
		m, err := ReadManifest(filepath.Join(runtimeDir, ManifestFileName))
		if errors.Is(err, os.ErrNotExist) {
			continue // built for other architectures only
		}
		if err != nil {
			return err
		}
		if m.Name != d.Name() {
			return fmt.Errorf("%s: manifest names runtime %q, but it is in directory %q", runtimeDir, m.Name, d.Name())
		}
		if err := fn(runtimeDir); err != nil {
			return err
		}
	}
	return nil
}

// isExecutable reports whether p, following symlinks, is a regular file
// with an execute bit.
func isExecutable(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}

func loadRuntime(runtimeDir, kind, arch string) (*Manifest, []Mount, error) {
	m, err := ReadManifest(filepath.Join(runtimeDir, ManifestFileName))
	if err != nil {
		return nil, nil, err
	}
	if m.Kind != kind {
		return nil, nil, fmt.Errorf("%s: kind %q, want %q", runtimeDir, m.Kind, kind)
	}
	if m.Arch != arch {
		return nil, nil, fmt.Errorf("%s: arch %q, want %q", runtimeDir, m.Arch, arch)
	}
	mounts := make([]Mount, 0, len(m.Mounts))
	for _, mm := range m.Mounts {
		source := filepath.Join(runtimeDir, filepath.FromSlash(mm.ImagePath))
		// Bind-mounting a symlink would follow it at mount time; the
		// builder resolves links, so anything but a real directory here
		// is a broken image.
		if err := requireDir(source); err != nil {
			return nil, nil, fmt.Errorf("runtime %s: %w", m.Name, err)
		}
		mounts = append(mounts, Mount{Source: source, Target: mm.SandboxPath})
	}
	return m, mounts, nil
}

func requireDir(p string) error {
	info, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", p)
	}
	return nil
}

// Arch returns the architecture the catalog serves.
func (c *Catalog) Arch() string { return c.arch }

// Names returns the libc runtime names (the accepted values of the libc
// exec property besides "" and "none"), sorted.
func (c *Catalog) Names() []string { return append([]string(nil), c.sorted...) }

// RootfsNames returns the rootfs runtime names (the accepted values of the
// runtime exec property), sorted.
func (c *Catalog) RootfsNames() []string { return append([]string(nil), c.rootfsSorted...) }

// RootfsDir returns the host directory holding the root tree of the rootfs
// runtime name, and whether the image has it.
func (c *Catalog) RootfsDir(name string) (string, bool) {
	r, ok := c.rootfs[name]
	return r.root, ok
}

// HasShell reports whether the image has a bash runtime for the arch.
func (c *Catalog) HasShell() bool { return c.hasSh }

// Mounts returns the bind mounts for an action: always the image's common
// etc at /etc, then the rootfs's top-level directories or the libc
// runtime's directories, then bash's unless a rootfs provides it. A runtime
// the image lacks gives an *UnknownRuntimeError; a libc beside a rootfs, or
// bash from a rootfs without one, an error wrapping ErrConflictingRuntimes.
func (c *Catalog) Mounts(req Request) ([]Mount, error) {
	libc := req.Libc
	if libc == "none" {
		libc = ""
	}
	mounts := []Mount{{Source: c.etc, Target: "/etc"}}
	if req.Rootfs != "" {
		r, ok := c.rootfs[req.Rootfs]
		if !ok {
			return nil, &UnknownRuntimeError{Kind: KindRootfs, Requested: req.Rootfs, Arch: c.arch, Available: c.RootfsNames()}
		}
		if libc != "" {
			return nil, fmt.Errorf("libc %q asked for with rootfs runtime %q, which brings its own libc: %w", libc, req.Rootfs, ErrConflictingRuntimes)
		}
		if req.Bash && !r.hasBash {
			return nil, fmt.Errorf("bash asked for with rootfs runtime %q, which has no /bin/bash: %w", req.Rootfs, ErrConflictingRuntimes)
		}
		return append(mounts, r.mounts...), nil
	}
	if libc != "" {
		libcMounts, ok := c.libcs[libc]
		if !ok {
			return nil, &UnknownRuntimeError{Kind: KindLibc, Requested: libc, Arch: c.arch, Available: c.Names()}
		}
		mounts = append(mounts, libcMounts...)
	}
	if req.Bash {
		if !c.hasSh {
			return nil, &UnknownRuntimeError{Kind: KindShell, Requested: "bash", Arch: c.arch}
		}
		mounts = append(mounts, c.shell...)
	}
	return mounts, nil
}
