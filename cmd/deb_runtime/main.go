// Command deb_runtime builds one runtime of a runtime image from .deb
// files:
//
//	deb_runtime --name glibc2.36 --kind libc --arch x86_64 --tar OUT.tar libc6_2.36-9+deb12u14_amd64.deb
//	deb_runtime --name glibc2.36 --kind libc --arch x86_64 --out DIR libc6_2.36-9+deb12u14_amd64.deb
//	deb_runtime --name gcc12 --kind rootfs --arch x86_64 --tar OUT.tar DEBS_OF_THE_CLOSURE...
//
// It extracts the packages' data.tar into root/ (pruned: no docs, locales,
// gconv modules, /var or /etc; absolute symlinks made relative; lib ->
// usr/lib style links for merged-/usr packages; for --kind shell,
// bash-static also appears as bin/bash and usr/bin/bash; for --kind rootfs,
// the links maintainer scripts would make that a toolchain needs, cc, c++,
// c89, c99 and sh, where no package ships them) and writes
// runtime_manifest.json beside it, whose format runtimes/README.md
// describes. With --out they go to DIR, which must be empty or absent. With
// --tar they go to one uncompressed tar archive (every directory and file
// mode 0555, times 0, owners root; go/runtimes/builder.WriteTar), which
// squashfs_builder --tar packs: a single deterministic file that Bazel
// caches, sandboxes and sends to remote executors like any other output,
// where a directory of hard links would not survive. The output depends
// only on the inputs, so Bazel and e2e/build_local_runtimes.sh produce
// identical archives.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/actiond/actiond/go/progress"
	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/runtimes/builder"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("deb_runtime: ")
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("deb_runtime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: deb_runtime --name NAME --kind libc|shell|rootfs --arch x86_64|aarch64 (--tar FILE | --out DIR) DEB...")
		fs.PrintDefaults()
	}
	var o builder.Options
	fs.StringVar(&o.Name, "name", "", "runtime name, e.g. glibc2.36 (libc), bash (shell) or gcc12 (rootfs)")
	fs.StringVar(&o.Kind, "kind", "", "runtime kind: libc, shell or rootfs")
	fs.StringVar(&o.Arch, "arch", "", "architecture: x86_64 or aarch64")
	fs.StringVar(&o.Out, "out", "", "runtime directory to create (empty or absent)")
	tarPath := fs.String("tar", "", "runtime tar archive to write")
	quiet := fs.Bool("quiet", false, "do not print the manifest summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Debs = fs.Args()
	switch {
	case o.Name == "":
		return errors.New("--name is required")
	case o.Kind != runtimes.KindLibc && o.Kind != runtimes.KindShell && o.Kind != runtimes.KindRootfs:
		return fmt.Errorf("--kind=%q: want libc, shell or rootfs", o.Kind)
	case o.Arch != "x86_64" && o.Arch != "aarch64":
		return fmt.Errorf("--arch=%q: want x86_64 or aarch64", o.Arch)
	case (o.Out == "") == (*tarPath == ""):
		return errors.New("give exactly one of --tar and --out")
	case len(o.Debs) == 0:
		return errors.New("no .deb files given")
	}
	for _, d := range o.Debs {
		if info, err := os.Stat(d); err != nil {
			return err
		} else if !info.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", d)
		}
	}
	pr := progress.New(progress.Terminal(stderr), progress.Options{Label: "building runtime " + o.Name, Noun: "packages"})
	o.Progress = pr.ItemsFunc()
	var m *runtimes.Manifest
	var err error
	if *tarPath != "" {
		m, err = buildTar(ctx, o, *tarPath)
	} else {
		m, err = builder.Build(ctx, o)
	}
	pr.Finish(err)
	if err != nil {
		return err
	}
	if !*quiet {
		log.Printf("built %s %s runtime %s: %d mounts, interpreters %v", m.Arch, m.Kind, m.Name, len(m.Mounts), m.Interpreters)
	}
	return nil
}

// buildTar builds the runtime in a temporary directory and archives it to
// tarPath, which is removed again on failure.
func buildTar(ctx context.Context, o builder.Options, tarPath string) (*runtimes.Manifest, error) {
	tmp, err := os.MkdirTemp("", "deb_runtime-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	o.Out = filepath.Join(tmp, "runtime")
	m, err := builder.Build(ctx, o)
	if err != nil {
		return nil, err
	}
	f, err := os.Create(tarPath)
	if err != nil {
		return nil, err
	}
	err = builder.WriteTar(o.Out, f)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(tarPath)
		return nil, fmt.Errorf("writing %s: %w", tarPath, err)
	}
	return m, nil
}
