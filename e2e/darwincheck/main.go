// Command darwincheck type-checks Go packages as they would build for
// darwin/arm64 with cgo, on a machine that cannot build them: the macOS
// host's code calls Virtualization.framework through github.com/Code-Hex/vz
// (cgo against the macOS SDK), which links only on a Mac. It lists the
// packages and their dependencies with `go list` for GOOS=darwin
// GOARCH=arm64 CGO_ENABLED=1, parses their Go and cgo files, and checks them
// in dependency order with go/types, treating `import "C"` as a package
// whose names are not checked (types.Config.FakeImportC). Function bodies
// are checked only in the packages named on the command line, so a wrong
// call of the vz API there (a missing function, a wrong argument or
// result) fails, while the dependencies' own bodies, which use C types
// heavily, are not second-guessed.
//
// Usage: darwincheck PACKAGE...
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// listedPackage is the part of `go list -json` output used here.
type listedPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	GoFiles    []string
	CgoFiles   []string
	ImportMap  map[string]string
	DepOnly    bool
	Error      *struct{ Err string }
}

func main() {
	log.SetPrefix("darwincheck: ")
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: darwincheck PACKAGE...")
	}
	if err := check(os.Args[1:], os.Stderr); err != nil {
		log.Fatal(err)
	}
}

func check(patterns []string, report io.Writer) error {
	pkgs, err := list(patterns)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	checked := map[string]*types.Package{"unsafe": types.Unsafe}
	var targets []string
	failed := 0
	for _, p := range pkgs {
		if p.ImportPath == "unsafe" {
			continue
		}
		if p.Error != nil {
			return fmt.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		target := !p.DepOnly
		files, err := parse(fset, p)
		if err != nil {
			return err
		}
		var errs []error
		conf := types.Config{
			FakeImportC:      true,
			IgnoreFuncBodies: !target,
			Sizes:            types.SizesFor("gc", "arm64"),
			Importer:         mapImporter{checked: checked, importMap: p.ImportMap},
			Error:            func(err error) { errs = append(errs, err) },
		}
		tp, _ := conf.Check(p.ImportPath, fset, files, nil)
		checked[p.ImportPath] = tp
		if !target {
			continue
		}
		targets = append(targets, p.ImportPath)
		for _, e := range errs {
			fmt.Fprintln(report, e)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d type errors for darwin/arm64", failed)
	}
	fmt.Fprintf(report, "darwincheck: %s type-check for darwin/arm64\n", strings.Join(targets, ", "))
	return nil
}

// list runs go list for darwin/arm64 with cgo; dependencies come first.
func list(patterns []string) ([]listedPackage, error) {
	cmd := exec.Command("go", append([]string{"list", "-e", "-deps", "-json"}, patterns...)...)
	cmd.Env = append(os.Environ(), "GOOS=darwin", "GOARCH=arm64", "CGO_ENABLED=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

func parse(fset *token.FileSet, p listedPackage) ([]*ast.File, error) {
	var files []*ast.File
	for _, name := range append(append([]string{}, p.GoFiles...), p.CgoFiles...) {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// mapImporter resolves imports to the packages checked before.
type mapImporter struct {
	checked   map[string]*types.Package
	importMap map[string]string
}

func (m mapImporter) Import(path string) (*types.Package, error) {
	if mapped, ok := m.importMap[path]; ok {
		path = mapped
	}
	if p, ok := m.checked[path]; ok && p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("package %s was not checked before its importer", path)
}
