// Command initramfs_builder writes the initramfs of actiond's VM: a newc
// cpio archive, zstd-compressed, that holds the guest agent as /init, the
// mount points it uses, /dev/console, and the executables it runs with the
// shared libraries they load, taken from Debian packages.
//
//	initramfs_builder --init linux_actiond_guest --out initramfs.cpio.zst \
//	    --deb e2fsprogs_*.deb --deb libext2fs2_*.deb ... --exe /sbin/mke2fs
//
// --deb packages are extracted with go/deb (documentation, locales and
// /etc dropped); of them, only what an --exe needs goes into the archive:
// the executable, the libraries of its DT_NEEDED closure (looked up in
// lib/<triplet>, usr/lib/<triplet>, lib and usr/lib, as the dynamic loader
// does) and its PT_INTERP loader, each at its Debian path, with the
// symlinks on the way kept as symlinks. Without an --exe the debs are not
// needed.
//
// The output is byte-for-byte deterministic: entries sorted by path,
// inode numbers in that order, owner 0:0, mtime 0, one zstd frame from a
// single-threaded encoder.
package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/actiond/actiond/go/deb"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	log.SetFlags(0)
	log.SetPrefix("initramfs_builder: ")
	if err := run(os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

func run(args []string) error {
	fset := flag.NewFlagSet("initramfs_builder", flag.ContinueOnError)
	initFile := fset.String("init", "", "the guest agent `binary`, installed as /init (mode 0755)")
	out := fset.String("out", "", "the zstd-compressed cpio `file` to write")
	var debs, exes stringList
	fset.Var(&debs, "deb", "a Debian package `file` to take executables and libraries from (repeatable)")
	fset.Var(&exes, "exe", "an executable `path` inside the packages, e.g. /sbin/mke2fs, to install with its libraries and loader (repeatable)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	switch {
	case fset.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	case *initFile == "":
		return errors.New("--init is required")
	case *out == "":
		return errors.New("--out is required")
	case len(exes) > 0 && len(debs) == 0:
		return errors.New("--exe needs the --deb packages that hold it")
	}
	a := newArchive()
	if err := a.addHostFile("init", *initFile, 0o755); err != nil {
		return err
	}
	if len(exes) > 0 {
		tree, err := os.MkdirTemp("", "initramfs-tree-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tree)
		if err := extract(tree, debs); err != nil {
			return err
		}
		c := closure{tree: tree, a: a, seen: map[string]bool{}}
		for _, exe := range exes {
			if err := c.addExecutable(exe); err != nil {
				return fmt.Errorf("--exe %s: %w", exe, err)
			}
		}
	}
	var buf bytes.Buffer
	if err := a.write(&buf); err != nil {
		return err
	}
	return writeCompressed(*out, buf.Bytes())
}

// extract unpacks the data.tar of every package into dir.
func extract(dir string, debs []string) error {
	t, err := deb.NewTree(dir)
	if err != nil {
		return err
	}
	for _, name := range debs {
		p, err := deb.Open(name)
		if err != nil {
			t.Close()
			return err
		}
		err = t.AddPackage(p)
		p.Close()
		if err != nil {
			t.Close()
			return err
		}
	}
	return t.Finish()
}

// writeCompressed writes one zstd frame of data to name, atomically.
func writeCompressed(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".initramfs-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// One encoder goroutine: the frame is then the same on every run and
	// every machine.
	zw, err := zstd.NewWriter(tmp, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// closure adds executables and what they load from tree to an archive.
type closure struct {
	tree string
	a    *archive
	seen map[string]bool
}

// libDirs are where the loader looks for a DT_NEEDED name, for an ELF
// machine.
func libDirs(m elf.Machine) []string {
	triplet := map[elf.Machine]string{elf.EM_X86_64: "x86_64-linux-gnu", elf.EM_AARCH64: "aarch64-linux-gnu"}[m]
	dirs := []string{"/lib", "/usr/lib"}
	if triplet != "" {
		dirs = append([]string{"/lib/" + triplet, "/usr/lib/" + triplet}, dirs...)
	}
	return dirs
}

// addExecutable adds the ELF file at p (a path in the tree), its loader and
// its libraries, recursively.
func (c *closure) addExecutable(p string) error {
	file, err := c.resolve(p, 0)
	if err != nil {
		return err
	}
	if c.seen[file] {
		return nil
	}
	c.seen[file] = true
	f, err := elf.Open(filepath.Join(c.tree, file))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer f.Close()
	var interp string
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b, err := io.ReadAll(prog.Open())
			if err != nil {
				return fmt.Errorf("%s: PT_INTERP: %w", file, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if interp != "" {
		if err := c.addExecutable(interp); err != nil {
			return fmt.Errorf("loader of %s: %w", file, err)
		}
	}
	for _, lib := range needed {
		found := ""
		for _, dir := range libDirs(f.Machine) {
			if _, err := os.Stat(filepath.Join(c.tree, dir, lib)); err == nil {
				found = path.Join(dir, lib)
				break
			}
		}
		if found == "" {
			return fmt.Errorf("%s needs %s, which no --deb holds (looked in %v)", file, lib, libDirs(f.Machine))
		}
		if err := c.addExecutable(found); err != nil {
			return err
		}
	}
	return nil
}

// resolve returns the path of the regular file p names in the tree,
// adding it and every symlink met on the way to the archive.
func (c *closure) resolve(p string, depth int) (string, error) {
	if depth > 40 {
		return "", fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	parts := strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := path.Join(cur, part)
		fi, err := os.Lstat(filepath.Join(c.tree, next))
		if err != nil {
			return "", fmt.Errorf("%s is not in the packages: %w", next, err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(filepath.Join(c.tree, next))
			if err != nil {
				return "", err
			}
			c.a.addSymlink(next[1:], target)
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			return c.resolve(path.Join(append([]string{target}, parts[i+1:]...)...), depth+1)
		case i == len(parts)-1:
			if !fi.Mode().IsRegular() {
				return "", fmt.Errorf("%s is not a regular file", next)
			}
			if err := c.a.addHostFile(next[1:], filepath.Join(c.tree, next), fi.Mode().Perm()); err != nil {
				return "", err
			}
			return next, nil
		case !fi.IsDir():
			return "", fmt.Errorf("%s is not a directory", next)
		}
		cur = next
	}
	return "", fmt.Errorf("%s names no file", p)
}
