// Command readback checks that an executable carries exactly the given
// payloads, in the given carrier, and that each extracts to bytes equal to
// its source file. test/standalone/run.sh runs it on the output of the
// standalone_binary rule.
//
//	readback --format=elf|trailer FILE name=SOURCE ...
//
// It prints one line per payload and exits 1 on the first difference.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/actiond/actiond/go/payload"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "readback: %v\n", err)
		os.Exit(1)
	}
}

var formats = map[string]payload.Format{
	"elf":     payload.ELF,
	"trailer": payload.Trailer,
	"macho":   payload.MachO,
}

func run(args []string) error {
	fs := flag.NewFlagSet("readback", flag.ContinueOnError)
	format := fs.String("format", "", "the carrier the payloads must be in: elf, trailer or macho")
	if err := fs.Parse(args); err != nil {
		return err
	}
	want, ok := formats[*format]
	if !ok {
		return fmt.Errorf("unknown --format %q", *format)
	}
	if fs.NArg() < 2 {
		return errors.New("usage: readback --format=FORMAT FILE name=SOURCE ...")
	}
	sources := map[string]string{}
	for _, a := range fs.Args()[1:] {
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("%q is not name=SOURCE", a)
		}
		sources[name] = path
	}
	set, err := payload.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer set.Close()
	if set.Format() != want {
		return fmt.Errorf("%s: payloads are in %s, want %s", fs.Arg(0), set.Format(), want)
	}
	var names []string
	for _, p := range set.Payloads() {
		names = append(names, p.Name())
	}
	wantNames := make([]string, 0, len(sources))
	for n := range sources {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		return fmt.Errorf("%s: payloads %q, want %q", fs.Arg(0), names, wantNames)
	}
	root, err := os.MkdirTemp("", "readback-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	for _, p := range set.Payloads() {
		res, err := p.Extract(context.Background(), root, nil)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(res.Path)
		if err != nil {
			return err
		}
		src, err := os.ReadFile(sources[p.Name()])
		if err != nil {
			return err
		}
		if !bytes.Equal(got, src) {
			return fmt.Errorf("%s: payload %s (%d bytes) differs from %s (%d bytes)", fs.Arg(0), p.Name(), len(got), sources[p.Name()], len(src))
		}
		fmt.Printf("%s: %d bytes, %d stored (%s), sha256 %s, equal to %s\n", p.Name(), p.Size(), p.StoredSize(), p.Compression(), p.SHA256(), sources[p.Name()])
	}
	return nil
}
