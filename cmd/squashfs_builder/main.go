// Command squashfs_builder writes a deterministic SquashFS image from host
// directories and tar archives, for the runtime images actiond mounts.
//
// Usage:
//
//	squashfs_builder --output FILE [--compression zstd|gzip|none]
//	    [--block-size BYTES] [--level N] [--common-etc=false]
//	    [--map IMAGE_PATH=HOST_DIR ...] [--tar IMAGE_PATH=FILE.tar ...]
//
// Each --map puts the contents of HOST_DIR at IMAGE_PATH in the image, each
// --tar the entries of an uncompressed tar archive (such as the runtime
// archives of deb_runtime --tar; see squashfs.Builder.AddTar); missing
// parent directories are created with mode 0755. Two sources providing the
// same path are an error. Sockets, device nodes and FIFOs are refused. The
// Bazel rules pass archives, which need no host directory with its hard
// links and so work in a sandbox and on a remote executor.
// Unless --common-etc=false, the image also gets common/root/etc/hosts,
// nsswitch.conf, passwd and group, which the sandbox bind-mounts so name
// lookups inside actions resolve localhost and the action's user from files
// alone.
//
// An argument of the form @FILE is replaced by the lines of FILE, one
// argument per line, as Bazel passes them with use_param_file.
//
// The image layout used by the project is common/root/etc,
// libc/<name>/<arch>/root (with runtime_manifest.json beside root),
// shell/bash/<arch>/root and rootfs/<name>/<arch>/root; a runtime name used
// under two of them is refused (go/runtimes.CheckRuntimeNames). The same inputs always give the same bytes: all
// timestamps are 0 and all files are owned by root.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/actiond/actiond/go/paramfile"
	"github.com/actiond/actiond/go/progress"
	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/squashfs"
)

const (
	etcHosts = "127.0.0.1 localhost\n::1 localhost\n"
	// The users actions run as (65534 as root, 0 in rootless mode), so
	// that whoami, id -un and getpwuid work: git, ssh and Python's getpass
	// fail without an entry for their uid.
	etcPasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	etcGroup  = "root:x:0:\nnogroup:x:65534:\n"
	// nsswitch.conf resolving everything from files: the sandbox has no
	// daemons or network name services.
	etcNsswitch = `passwd: files
group: files
shadow: files
hosts: files
networks: files
protocols: files
services: files
ethers: files
rpc: files
netgroup: files
`
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("squashfs_builder: ")
	if err := run(os.Args[1:], progress.Terminal(os.Stderr)); err != nil {
		log.Fatal(err)
	}
}

// mapping is one --map or --tar flag: IMAGE_PATH=SOURCE.
type mapping struct{ imagePath, source string }

// mapFlag collects mappings; what names the source in errors.
type mapFlag struct {
	what string
	list []mapping
}

func (m *mapFlag) String() string { return fmt.Sprint(m.list) }

func (m *mapFlag) Set(v string) error {
	imagePath, source, ok := strings.Cut(v, "=")
	if !ok || source == "" {
		return fmt.Errorf("want IMAGE_PATH=%s, got %q", m.what, v)
	}
	m.list = append(m.list, mapping{imagePath, source})
	return nil
}

// run builds the image args describe, showing its progress on term, a
// terminal or nil.
func run(args []string, term io.Writer) error {
	args, err := paramfile.Expand(args)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("squashfs_builder", flag.ContinueOnError)
	output := fs.String("output", "", "image file to write (required)")
	compression := fs.String("compression", "zstd", "compression: zstd, gzip or none")
	blockSize := fs.Int("block-size", squashfs.DefaultBlockSize, "data block size in bytes, a power of two from 4096 to 1048576")
	level := fs.Int("level", 0, "compression level (zstd 1-22, gzip 1-9); 0 means the mksquashfs default")
	commonEtc := fs.Bool("common-etc", true, "add common/root/etc/{hosts,nsswitch.conf,passwd,group}")
	maps := mapFlag{what: "HOST_DIR"}
	fs.Var(&maps, "map", "IMAGE_PATH=HOST_DIR to add (repeatable)")
	tars := mapFlag{what: "FILE.tar"}
	fs.Var(&tars, "tar", "IMAGE_PATH=FILE.tar, an uncompressed tar archive to add (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *output == "" {
		return errors.New("--output is required")
	}
	comp, err := squashfs.ParseCompression(*compression)
	if err != nil {
		return err
	}
	for _, m := range maps.list {
		info, err := os.Stat(m.source)
		if err != nil {
			return fmt.Errorf("--map %s=%s: %w", m.imagePath, m.source, err)
		}
		if !info.IsDir() {
			return fmt.Errorf("--map %s=%s: not a directory", m.imagePath, m.source)
		}
	}
	// A runtime name used by two kinds would make the daemon refuse the
	// image when it opens it; refusing it here fails the build instead.
	var imagePaths []string
	for _, m := range append(append([]mapping(nil), maps.list...), tars.list...) {
		imagePaths = append(imagePaths, m.imagePath)
	}
	if err := runtimes.CheckRuntimeNames(imagePaths); err != nil {
		return err
	}
	pr := progress.New(term, progress.Options{Label: "writing runtime image " + filepath.Base(*output)})
	b, err := squashfs.NewBuilder(squashfs.Options{Compression: comp, BlockSize: *blockSize, Level: *level, Progress: pr.BytesFunc()})
	if err != nil {
		return err
	}

	for _, m := range maps.list {
		if err := b.AddTree(m.imagePath, m.source); err != nil {
			return fmt.Errorf("--map %s=%s: %w", m.imagePath, m.source, err)
		}
	}
	for _, m := range tars.list {
		if err := b.AddTar(m.imagePath, m.source); err != nil {
			return fmt.Errorf("--tar %s=%s: %w", m.imagePath, m.source, err)
		}
	}
	if *commonEtc {
		if err := b.AddFile("common/root/etc/hosts", []byte(etcHosts), 0o644); err != nil {
			return fmt.Errorf("--common-etc: %w", err)
		}
		if err := b.AddFile("common/root/etc/nsswitch.conf", []byte(etcNsswitch), 0o644); err != nil {
			return fmt.Errorf("--common-etc: %w", err)
		}
		if err := b.AddFile("common/root/etc/passwd", []byte(etcPasswd), 0o644); err != nil {
			return fmt.Errorf("--common-etc: %w", err)
		}
		if err := b.AddFile("common/root/etc/group", []byte(etcGroup), 0o644); err != nil {
			return fmt.Errorf("--common-etc: %w", err)
		}
	}
	err = writeImage(b, *output)
	pr.Finish(err)
	return err
}

// writeImage writes the image and removes a partial output on failure.
func writeImage(b io.WriterTo, output string) error {
	f, err := os.Create(output)
	if err != nil {
		return err
	}
	if _, err := b.WriteTo(f); err != nil {
		f.Close()
		os.Remove(output)
		return fmt.Errorf("writing %s: %w", output, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(output)
		return fmt.Errorf("writing %s: %w", output, err)
	}
	return nil
}
