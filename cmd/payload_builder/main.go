// Command payload_builder puts payloads (the guest kernel, the initramfs,
// the runtime image) into an actiond executable, in the formats package
// go/payload reads, so that one file is all a user needs.
//
//	payload_builder --format=elf --in BIN --out OUT --payload kernel=FILE ... [--compress=zstd|none]
//	payload_builder --format=trailer --in BIN --out OUT --payload kernel=FILE ...
//	payload_builder --format=section-content --out OUT --payload kernel=FILE
//
// --format=elf adds one section ".actiond.<name>" per --payload to a 64-bit
// little-endian x86-64 or AArch64 ELF executable, as `objcopy
// --add-section` would but with the standard library only: non-alloc
// SHT_PROGBITS sections appended with a new section name table and section
// header table; of the bytes already there only e_shoff and e_shnum in the
// ELF header change, so the program runs as before. --format=trailer
// appends the payloads, a manifest and a footer to any file instead.
// --format=section-content writes the content of one Mach-O section, see
// below. An input that already carries payloads is refused (they are not
// replaced): build from the binary the linker wrote.
//
// macOS: the darwin binary gets its payloads at link time, as sections
// "__<name>" of segment "__ACTIOND", through ld64's
// -sectcreate __ACTIOND __kernel FILE (passed with rules_go's gc_linkopts
// "-extldflags" or go build -ldflags=-extldflags=...), before the binary
// is codesigned. Bytes appended after a code signature break it, and
// macOS kills an arm64 binary whose signature does not verify, so neither
// a trailer nor a section added after signing will do. FILE must hold the
// payload in the blob format go/payload reads, a header (name,
// compression, sizes, SHA-256) and the data: that is what
// --format=section-content writes.
//
// Payloads are compressed with zstd unless --compress=none; already
// compressed content (a zstd initramfs, a compressed SquashFS) gains
// little from it. The output is byte-for-byte deterministic: payloads are
// written in name order whatever the order of the flags, the zstd encoder
// runs with fixed settings on one goroutine, and nothing records a time.
// An argument "@FILE" is replaced by the lines of FILE (Bazel params
// files).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/actiond/actiond/go/paramfile"
	"github.com/actiond/actiond/go/payload"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// payloadFlags collects --payload name=FILE.
type payloadFlags []payload.Source

func (p *payloadFlags) String() string { return "" }

func (p *payloadFlags) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || path == "" {
		return fmt.Errorf("%q is not name=FILE", v)
	}
	if err := payload.ValidateName(name); err != nil {
		return err
	}
	*p = append(*p, payload.Source{Name: name, Path: path})
	return nil
}

// usageError is a bad command line: exit status 2.
type usageError struct{ error }

// run is the command with its arguments, output streams and exit status.
func run(args []string, stdout, stderr io.Writer) int {
	err := build(args, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(stderr, "payload_builder: %v\n", err)
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

func build(args []string, stderr io.Writer) error {
	args, err := paramfile.Expand(args)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("payload_builder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "", "the output `format`: elf, trailer or section-content")
	in := fs.String("in", "", "the executable `file` to add payloads to (not with section-content)")
	out := fs.String("out", "", "the `file` to write")
	compress := fs.String("compress", "zstd", "payload `compression`: zstd or none")
	var payloads payloadFlags
	fs.Var(&payloads, "payload", "a payload as `name=FILE` (repeatable; exactly one with section-content)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	c, err := payload.ParseCompression(*compress)
	switch {
	case err != nil:
		return usageError{fmt.Errorf("--compress: %w", err)}
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	case *out == "":
		return usageError{errors.New("--out is required")}
	case len(payloads) == 0:
		return usageError{errors.New("at least one --payload is required")}
	}
	switch *format {
	case "elf", "trailer":
		if *in == "" {
			return usageError{fmt.Errorf("--format=%s needs --in", *format)}
		}
	case "section-content":
		if *in != "" {
			return usageError{errors.New("--format=section-content takes no --in")}
		}
		if len(payloads) != 1 {
			return usageError{fmt.Errorf("--format=section-content takes one --payload, got %d", len(payloads))}
		}
		return writeAtomically(*out, 0o644, func(f *os.File) error {
			_, err := payload.WriteSectionContent(f, payloads[0], c)
			return err
		})
	case "":
		return usageError{errors.New("--format is required")}
	default:
		return usageError{fmt.Errorf("unknown --format %q (want elf, trailer or section-content)", *format)}
	}
	exe, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer exe.Close()
	fi, err := exe.Stat()
	if err != nil {
		return err
	}
	return writeAtomically(*out, fi.Mode().Perm(), func(f *os.File) error {
		var err error
		if *format == "elf" {
			_, err = payload.WriteELF(f, exe, fi.Size(), payloads, c)
		} else {
			_, err = payload.WriteTrailer(f, exe, fi.Size(), payloads, c)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
		return nil
	})
}

// writeAtomically writes name through a temporary file in its directory,
// so that a failed run leaves no partial output.
func writeAtomically(name string, mode os.FileMode, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".payload_builder-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
