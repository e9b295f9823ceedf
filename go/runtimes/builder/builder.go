// Package builder turns .deb files into a runtime directory: a root tree
// and the runtime_manifest.json that go/runtime reads. It is the library
// behind cmd/deb_runtime and is separate from go/runtime so that the
// executor does not link the .deb decompressors.
package builder

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/actiond/actiond/go/deb"
	"github.com/actiond/actiond/go/runtimes"
)

// Options says what to build.
type Options struct {
	// Name is the runtime name, such as "glibc2.36" or "bash".
	Name string
	// Kind is runtimes.KindLibc, runtimes.KindShell or
	// runtimes.KindRootfs.
	Kind string
	// Arch is "x86_64" or "aarch64".
	Arch string
	// Debs are the .deb files, extracted in this order. A path that two
	// packages provide differently is an error (deb.ErrDuplicatePath):
	// dpkg would refuse to install both too, unless one declares
	// Replaces, which the builder does not read.
	Debs []string
	// Out is the runtime directory to create; it must be empty or absent.
	// Build writes Out/root and Out/runtime_manifest.json.
	Out string
	// Progress, if not nil, is called after each package is extracted
	// with the number extracted so far and len(Debs).
	Progress func(done, total int64)
}

// debArch maps runtime arch names to Debian architecture names.
var debArch = map[string]string{"x86_64": "amd64", "aarch64": "arm64"}

var elfMachine = map[string]elf.Machine{"x86_64": elf.EM_X86_64, "aarch64": elf.EM_AARCH64}

// libcMounts and shellMounts are the directories each kind exposes, as
// (tree path, sandbox path); missing ones are left out.
var (
	libcMounts  = [][2]string{{"lib", "/lib"}, {"lib64", "/lib64"}, {"usr/lib", "/usr/lib"}}
	shellMounts = [][2]string{{"bin", "/bin"}, {"usr/bin", "/usr/bin"}}
)

// Build extracts the packages into Options.Out/root and writes the
// manifest, which it also returns. The output depends only on the inputs.
func Build(ctx context.Context, o Options) (*runtimes.Manifest, error) {
	m := &runtimes.Manifest{
		Version: runtimes.ManifestVersion,
		Name:    o.Name,
		Kind:    o.Kind,
		Arch:    o.Arch,
		Debs:    []runtimes.Deb{},
		Mounts:  []runtimes.ManifestMount{},
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if len(o.Debs) == 0 {
		return nil, errors.New("no .deb files given")
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(o.Out); err != nil {
		return nil, err
	} else if len(entries) > 0 {
		return nil, fmt.Errorf("output directory %s is not empty", o.Out)
	}
	tree, err := deb.NewTree(filepath.Join(o.Out, "root"))
	if err != nil {
		return nil, err
	}
	defer tree.Close()
	for i, name := range o.Debs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := addDeb(tree, name, o.Arch)
		if err != nil {
			return nil, err
		}
		m.Debs = append(m.Debs, d)
		if o.Progress != nil {
			o.Progress(int64(i+1), int64(len(o.Debs)))
		}
	}
	if err := tree.MergeUsr(); err != nil {
		return nil, err
	}
	mounts := libcMounts
	switch o.Kind {
	case runtimes.KindRootfs:
		if err := addAlternatives(tree); err != nil {
			return nil, err
		}
		mounts = nil
	case runtimes.KindShell:
		if err := linkBash(tree); err != nil {
			return nil, err
		}
		if err := linkBusybox(tree); err != nil {
			return nil, err
		}
		mounts = shellMounts
	}
	for _, mount := range mounts {
		// Mount the real directory behind a merged-/usr link: a bind
		// mount of the link would resolve it on the host, not in the image.
		if resolved, isDir, ok := tree.Lookup(mount[0]); ok && isDir {
			m.Mounts = append(m.Mounts, runtimes.ManifestMount{
				ImagePath:   path.Join("root", resolved),
				SandboxPath: mount[1],
			})
		}
	}
	if err := tree.Finish(); err != nil {
		return nil, err
	}
	if o.Kind == runtimes.KindRootfs {
		if m.Mounts, err = rootfsMounts(tree, filepath.Join(o.Out, "root")); err != nil {
			return nil, err
		}
	}
	if len(m.Mounts) == 0 {
		return nil, fmt.Errorf("runtime %s has none of the directories a %s runtime mounts", o.Name, o.Kind)
	}
	if m.Interpreters, err = interpreters(ctx, filepath.Join(o.Out, "root"), o.Arch); err != nil {
		return nil, err
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Out, runtimes.ManifestFileName), b, 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

func addDeb(tree *deb.Tree, name, arch string) (runtimes.Deb, error) {
	sum, err := runtimes.FileSHA256(name)
	if err != nil {
		return runtimes.Deb{}, err
	}
	p, err := deb.Open(name)
	if err != nil {
		return runtimes.Deb{}, err
	}
	defer p.Close()
	if a := p.Control.Architecture(); a != debArch[arch] && a != "all" {
		return runtimes.Deb{}, fmt.Errorf("%s: package architecture %q does not match runtime arch %s (%s)", name, a, arch, debArch[arch])
	}
	if err := tree.AddPackage(p); err != nil {
		return runtimes.Deb{}, fmt.Errorf("%s: %w", name, err)
	}
	return runtimes.Deb{
		File:         filepath.Base(name),
		SHA256:       sum,
		Package:      p.Control.Package(),
		Version:      p.Control.Version(),
		Architecture: p.Control.Architecture(),
	}, nil
}

// linkBash gives bash-static the name bash in bin and usr/bin, which is
// where actions (and Bazel's genrules, which run /bin/bash) look for it.
func linkBash(tree *deb.Tree) error {
	var static string
	for _, candidate := range []string{"bin/bash", "usr/bin/bash", "bin/bash-static", "usr/bin/bash-static"} {
		if resolved, isDir, ok := tree.Lookup(candidate); ok && !isDir {
			static = resolved
			break
		}
	}
	if static == "" {
		return errors.New("shell runtime has neither bin/bash nor bin/bash-static (nor under usr/)")
	}
	for _, dir := range []string{"bin", "usr/bin"} {
		if resolved, isDir, ok := tree.Lookup(dir); ok && isDir {
			dir = resolved
		}
		if _, _, ok := tree.Lookup(path.Join(dir, "bash")); ok {
			continue
		}
		if err := tree.Link(static, path.Join(dir, "bash")); err != nil {
			return err
		}
	}
	return nil
}

// interpreters returns the sorted PT_INTERP paths of the ELF files under
// root, and checks that every ELF file is built for arch.
func interpreters(ctx context.Context, root, arch string) ([]string, error) {
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		interp, isELF, err := elfInterpreter(p, arch)
		if err != nil {
			rel, _ := filepath.Rel(root, p)
			return fmt.Errorf("%s: %w", rel, err)
		}
		if isELF && interp != "" {
			seen[interp] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	list := []string{}
	for interp := range seen {
		list = append(list, interp)
	}
	sort.Strings(list)
	return list, nil
}

func elfInterpreter(name, arch string) (interp string, isELF bool, err error) {
	f, err := os.Open(name)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil || string(magic) != elf.ELFMAG {
		return "", false, nil
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return "", true, fmt.Errorf("parsing ELF: %w", err)
	}
	defer ef.Close()
	if ef.Machine != elfMachine[arch] {
		return "", true, fmt.Errorf("ELF machine %s, want %s for %s", ef.Machine, elfMachine[arch], arch)
	}
	for _, prog := range ef.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(prog.Open(), 4096))
		if err != nil {
			return "", true, fmt.Errorf("reading PT_INTERP: %w", err)
		}
		return strings.TrimRight(string(b), "\x00"), true, nil
	}
	return "", true, nil
}
