// Command acsummary prints the action results in a stopped daemon's root,
// one line each, sorted, without what varies between runs (execution
// metadata): exit code, output files, symlinks and directories with their
// digests, stdout and stderr digests. Two builds of the same workspace whose
// actions behaved the same print the same lines, whatever their action
// digests, so the e2e tests compare builds by diffing this output.
//
// Usage: acsummary ROOT
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/protobuf/proto"
)

func main() {
	log.SetPrefix("acsummary: ")
	log.SetFlags(0)
	if len(os.Args) != 2 {
		log.Fatal("usage: acsummary ROOT")
	}
	lines, err := summarize(filepath.Join(os.Args[1], "ac"))
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}

// summarize reads every ActionResult file directly in dir.
func summarize(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var r repb.ActionResult
		if err := proto.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		lines = append(lines, line(&r))
	}
	slices.Sort(lines)
	return lines, nil
}

func line(r *repb.ActionResult) string {
	var parts []string
	for _, f := range r.GetOutputFiles() {
		parts = append(parts, fmt.Sprintf("file %s %s/%d exec=%v", f.GetPath(), f.GetDigest().GetHash(), f.GetDigest().GetSizeBytes(), f.GetIsExecutable()))
	}
	for _, l := range append(r.GetOutputFileSymlinks(), append(r.GetOutputDirectorySymlinks(), r.GetOutputSymlinks()...)...) {
		parts = append(parts, fmt.Sprintf("symlink %s -> %s", l.GetPath(), l.GetTarget()))
	}
	for _, d := range r.GetOutputDirectories() {
		parts = append(parts, fmt.Sprintf("dir %s %s/%d", d.GetPath(), d.GetTreeDigest().GetHash(), d.GetTreeDigest().GetSizeBytes()))
	}
	slices.Sort(parts)
	return fmt.Sprintf("exit=%d stdout=%s stderr=%s %s", r.GetExitCode(), r.GetStdoutDigest().GetHash(), r.GetStderrDigest().GetHash(), strings.Join(parts, "; "))
}
