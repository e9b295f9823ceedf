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

// UnknownRuntimeError names a requested runtime and the ones that exist.
// It matches ErrUnknownRuntime with errors.Is.
type UnknownRuntimeError struct {
	// Requested is the libc value asked for, or "bash" for requires-bash.
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
	return fmt.Sprintf("runtime %q is not in the runtime image for %s (available: %s)", e.Requested, e.Arch, available)
}

// Is makes errors.Is(err, ErrUnknownRuntime) true.
func (e *UnknownRuntimeError) Is(target error) bool { return target == ErrUnknownRuntime }

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
}

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
		arch:  arch,
		etc:   filepath.Join(abs, "common", "root", "etc"),
		libcs: map[string][]Mount{},
	}
	if err := requireDir(c.etc); err != nil {
		return nil, fmt.Errorf("runtime image %s: %w", abs, err)
	}
	libcDirs, err := os.ReadDir(filepath.Join(abs, "libc"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("runtime image %s: %w", abs, err)
	}
	for _, d := range libcDirs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		runtimeDir := filepath.Join(abs, "libc", d.Name(), arch)
		if _, err := os.Stat(filepath.Join(runtimeDir, ManifestFileName)); errors.Is(err, os.ErrNotExist) {
			continue // built for other architectures only
		}
		m, mounts, err := loadRuntime(runtimeDir, KindLibc, arch)
		if err != nil {
			return nil, err
		}
		if m.Name != d.Name() {
			return nil, fmt.Errorf("%s: manifest names runtime %q, but it is in directory %q", runtimeDir, m.Name, d.Name())
		}
		c.libcs[m.Name] = mounts
		c.sorted = append(c.sorted, m.Name)
	}
	sort.Strings(c.sorted)
	shellDir := filepath.Join(abs, "shell", "bash", arch)
	if _, err := os.Stat(filepath.Join(shellDir, ManifestFileName)); err == nil {
		_, mounts, err := loadRuntime(shellDir, KindShell, arch)
		if err != nil {
			return nil, err
		}
		c.shell, c.hasSh = mounts, true
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return c, nil
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

// HasShell reports whether the image has a bash runtime for the arch.
func (c *Catalog) HasShell() bool { return c.hasSh }

// Mounts returns the bind mounts for an action: always the image's common
// etc at /etc, then the libc runtime's directories, then bash's. libc ""
// or "none" selects no libc runtime. A runtime the image lacks gives an
// *UnknownRuntimeError.
func (c *Catalog) Mounts(libc string, requiresBash bool) ([]Mount, error) {
	mounts := []Mount{{Source: c.etc, Target: "/etc"}}
	if libc != "" && libc != "none" {
		libcMounts, ok := c.libcs[libc]
		if !ok {
			return nil, &UnknownRuntimeError{Requested: libc, Arch: c.arch, Available: c.Names()}
		}
		mounts = append(mounts, libcMounts...)
	}
	if requiresBash {
		if !c.hasSh {
			return nil, &UnknownRuntimeError{Requested: "bash", Arch: c.arch}
		}
		mounts = append(mounts, c.shell...)
	}
	return mounts, nil
}
