// Command deb_lock pins a Debian package closure in a lock file, and
// downloads exactly what a lock pins:
//
//	deb_lock --arch amd64 [--index FILE]... [--include-essential] --out LOCK PKG...
//	deb_lock fetch --lock LOCK [--archive URL] --out DIR
//
// The first form resolves the Depends and Pre-Depends closure of the
// packages (name, name:arch, name=version) over the Packages indexes with
// go/deb's rules (deb.Resolve: Essential and Priority: required packages
// are left out unless named or --include-essential is given) and writes
// the lock (deb.Lock). Without --index it reads the indexes apt has
// downloaded for the architecture, /var/lib/apt/lists/*_binary-ARCH_Packages*,
// which name their archive and suite. An index may be plain, gzip, xz,
// zstd or lz4.
//
// fetch downloads every locked .deb into DIR (archive root + Filename; the
// lock's own archive, or --archive for packages whose lock entry has
// none), checks its size and sha256, and keeps files already there with
// the right hash. A file whose hash differs fails the command naming the
// package and both hashes, and nothing is left under its name.
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
	"sort"
	"strings"

	"github.com/actiond/actiond/go/deb"
	"github.com/actiond/actiond/go/progress"
)

// aptListsDir is where apt keeps the indexes it downloaded.
const aptListsDir = "/var/lib/apt/lists"

func main() {
	log.SetFlags(0)
	log.SetPrefix("deb_lock: ")
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		log.Fatal(err)
	}
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "fetch" {
		return runFetch(ctx, args[1:], stdout, stderr)
	}
	return runLock(args, stdout, stderr, aptListsDir)
}

func runLock(args []string, stdout, stderr io.Writer, listsDir string) error {
	fs := flag.NewFlagSet("deb_lock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: deb_lock --arch ARCH [--index FILE]... [--include-essential] --out LOCK PKG...")
		fmt.Fprintln(stderr, "       deb_lock fetch --lock LOCK [--archive URL] --out DIR")
		fs.PrintDefaults()
	}
	var indexPaths stringList
	var opts deb.ResolveOptions
	fs.StringVar(&opts.Arch, "arch", "", "target architecture, Debian's name (amd64, arm64)")
	fs.Var(&indexPaths, "index", "Packages index to resolve against (repeatable; default apt's lists for --arch)")
	fs.BoolVar(&opts.IncludeEssential, "include-essential", false, "keep Essential and Priority: required packages a dependency reaches")
	out := fs.String("out", "", "lock file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	roots := fs.Args()
	switch {
	case opts.Arch == "":
		return errors.New("--arch is required")
	case *out == "":
		return errors.New("--out is required")
	case len(roots) == 0:
		return errors.New("no packages given")
	}
	if len(indexPaths) == 0 {
		found, err := filepath.Glob(filepath.Join(listsDir, "*_binary-"+opts.Arch+"_Packages*"))
		if err != nil {
			return err
		}
		// apt's partial downloads live in a subdirectory, which the glob
		// does not enter; sorting makes the index order stable.
		sort.Strings(found)
		if len(found) == 0 {
			return fmt.Errorf("no --index given and no %s indexes in %s (run apt-get update, with %s in APT::Architectures)", opts.Arch, listsDir, opts.Arch)
		}
		indexPaths = found
	}
	var indexes []*deb.Index
	for _, p := range indexPaths {
		idx, err := deb.ReadIndexFile(p)
		if err != nil {
			return err
		}
		indexes = append(indexes, idx)
	}
	res, err := deb.Resolve(indexes, roots, opts)
	if err != nil {
		return err
	}
	lock, err := deb.NewLock(res, roots, opts)
	if err != nil {
		return err
	}
	data, err := lock.Marshal()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, data); err != nil {
		return err
	}
	var size int64
	for _, p := range lock.Packages {
		size += p.Size
	}
	fmt.Fprintf(stdout, "%s: %d packages, %d bytes, %d left out as essential\n", *out, len(lock.Packages), size, len(lock.Excluded))
	return nil
}

func runFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deb_lock fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lockPath := fs.String("lock", "", "lock file to fetch")
	var opts deb.FetchOptions
	fs.StringVar(&opts.Archive, "archive", "", "archive root URL for packages whose lock entry names none")
	out := fs.String("out", "", "directory to download the .debs into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *lockPath == "":
		return errors.New("fetch: --lock is required")
	case *out == "":
		return errors.New("fetch: --out is required")
	case fs.NArg() != 0:
		return fmt.Errorf("fetch: unexpected arguments %q", fs.Args())
	}
	f, err := os.Open(*lockPath)
	if err != nil {
		return err
	}
	lock, err := deb.ReadLock(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *lockPath, err)
	}
	var size int64
	for _, p := range lock.Packages {
		size += p.Size
	}
	pr := progress.New(progress.Terminal(stderr), progress.Options{Label: "downloading .debs", Bytes: size, Items: int64(len(lock.Packages)), Noun: "packages"})
	opts.Progress = pr
	paths, err := deb.Fetch(ctx, lock, *out, opts)
	pr.Finish(err)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d packages in %s\n", len(paths), *out)
	return nil
}

// writeFileAtomic writes data to name through a temporary file in the same
// directory, so that a failed run never leaves a half-written lock.
func writeFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
