//go:build linux

package execroot_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/execroot"
	"github.com/actiond/actiond/go/sandbox"
)

// hostileEnv runs actions of a Builder in the real sandbox (root mode),
// with the host's /usr, /bin and /lib for a shell.
type hostileEnv struct {
	s      *testStore
	b      *execroot.Builder
	runner *sandbox.Runner
	root   digest.Digest
}

func newHostileEnv(t *testing.T, budgets execroot.Budgets) *hostileEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for the namespace sandbox with overlay mounts")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh on the host")
	}
	s := newStore(t)
	runner, err := sandbox.NewRunner(slog.New(slog.NewTextHandler(io.Discard, nil)), sandbox.Options{})
	if err != nil {
		t.Fatalf("NewRunner: %v", err)
	}
	t.Cleanup(func() { runner.Close() })
	return &hostileEnv{
		s:      s,
		b:      newBuilder(t, s, func(o *execroot.Options) { o.Budgets = budgets }),
		runner: runner,
		root:   putTree(t, s, []ent{{path: "src/in.txt", content: "input\n"}}),
	}
}

// run runs script with /bin/sh -c in a sandbox on a fresh Root for cmd's
// outputs (script is cmd's argument), requires exit 0 and returns the Root.
func (e *hostileEnv) run(t *testing.T, cmd *repb.Command, script string, args ...string) *execroot.Root {
	t.Helper()
	cmd.Arguments = append([]string{"/bin/sh", "-c", script}, args...)
	r := prepare(t, e.b, e.root, cmd)
	dir := t.TempDir()
	spec := sandbox.Spec{
		Args:   cmd.Arguments,
		Env:    []string{"PATH=/usr/bin:/bin"},
		Dir:    "/execroot",
		Stdout: filepath.Join(dir, "stdout"),
		Stderr: filepath.Join(dir, "stderr"),
	}
	for _, p := range []string{"/usr", "/bin", "/lib", "/lib64"} {
		if _, err := os.Stat(p); err == nil {
			spec.Mounts = append(spec.Mounts, sandbox.Mount{Kind: sandbox.Bind, Source: p, Target: p, ReadOnly: true})
		}
	}
	spec.Mounts = append(spec.Mounts, r.Mounts("/execroot")...)
	res, err := e.runner.Run(context.Background(), spec)
	if err != nil || res.ExitCode != 0 {
		stderr, _ := os.ReadFile(spec.Stderr)
		t.Fatalf("Run: %+v, %v; stderr: %s", res, err, stderr)
	}
	return r
}

// collect runs CollectOutputs and returns the result and the code.
func collect(t *testing.T, r *execroot.Root, cmd *repb.Command) (*repb.ActionResult, *status.Status) {
	t.Helper()
	ar := &repb.ActionResult{}
	err := r.CollectOutputs(context.Background(), cmd, ar)
	return ar, status.Convert(err)
}

// checkNoHostFiles fails if an output file or a CAS blob has the content
// of a host file the action must never deliver.
func (e *hostileEnv) checkNoHostFiles(t *testing.T, ar *repb.ActionResult) {
	t.Helper()
	for _, p := range []string{"/etc/passwd", "/etc/hostname", "/etc/os-release"} {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		d := digest.OfBytes(b)
		for _, f := range ar.OutputFiles {
			if f.Digest.GetHash() == d.Hash {
				t.Errorf("output file %s has the content of the host's %s", f.Path, p)
			}
		}
		if e.s.has(d) {
			t.Errorf("the CAS holds the host's %s", p)
		}
	}
}

// TestHostileOutputSymlinks: symlinks and hard links to host files among
// the outputs are reported as symlinks or refused, never followed.
func TestHostileOutputSymlinks(t *testing.T) {
	e := newHostileEnv(t, execroot.Budgets{})
	for _, tc := range []struct {
		name    string
		cmd     *repb.Command
		script  string
		wantErr codes.Code
		check   func(t *testing.T, ar *repb.ActionResult)
	}{
		{
			name:    "output file is an absolute symlink to /etc/passwd",
			cmd:     &repb.Command{OutputFiles: []string{"out"}},
			script:  "ln -s /etc/passwd out",
			wantErr: codes.FailedPrecondition,
		},
		{
			name:   "output file is a relative symlink climbing to /etc/passwd",
			cmd:    &repb.Command{OutputFiles: []string{"out"}},
			script: "ln -s ../../../../../../../../etc/passwd out",
			check: func(t *testing.T, ar *repb.ActionResult) {
				if len(ar.OutputFiles) != 0 || len(ar.OutputFileSymlinks) != 1 || ar.OutputFileSymlinks[0].Target != "../../../../../../../../etc/passwd" {
					t.Errorf("got files %v, file symlinks %v; want only the symlink", ar.OutputFiles, ar.OutputFileSymlinks)
				}
			},
		},
		{
			name:    "output directory is an absolute symlink to /",
			cmd:     &repb.Command{OutputDirectories: []string{"out"}},
			script:  "ln -s / out",
			wantErr: codes.FailedPrecondition,
		},
		{
			name:   "output directory holds a symlink climbing to /etc",
			cmd:    &repb.Command{OutputDirectories: []string{"out"}},
			script: "mkdir -p out && ln -s ../../../../../../../etc out/etc",
			check: func(t *testing.T, ar *repb.ActionResult) {
				if len(ar.OutputDirectories) != 1 {
					t.Fatalf("output directories: %v", ar.OutputDirectories)
				}
				root, _ := readTree(t, e.s, ar.OutputDirectories[0].TreeDigest)
				if len(root.Files) != 0 || len(root.Directories) != 0 || len(root.Symlinks) != 1 {
					t.Errorf("tree root %v; want the one symlink", root)
				}
			},
		},
		{
			// The host's files are not in the sandbox's mount namespace, and
			// what is (binds, the skeleton) is another file system.
			name:   "hard links to files outside the execroot",
			cmd:    &repb.Command{OutputFiles: []string{"passwd", "sh", "null"}},
			script: "! ln /etc/passwd passwd && ! ln /bin/sh sh && ! ln /dev/null null",
			check: func(t *testing.T, ar *repb.ActionResult) {
				if len(ar.OutputFiles)+len(ar.OutputFileSymlinks) != 0 {
					t.Errorf("got outputs %v %v; want none (every ln failed)", ar.OutputFiles, ar.OutputFileSymlinks)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(t, tc.cmd, tc.script)
			ar, st := collect(t, r, tc.cmd)
			if st.Code() != tc.wantErr {
				t.Fatalf("CollectOutputs: %v; want %v", st, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, ar)
			}
			e.checkNoHostFiles(t, ar)
		})
	}
}

// TestOutputDirectorySwappedDuringCollection: the action leaves a process
// that keeps replacing its output directory with a symlink to / (and to a
// path climbing out of the execroot) and back. Collection happens once
// every process of the action is gone (the sandbox's Run returns only
// then), so it sees one fixed state, and none of them delivers a host
// file.
func TestOutputDirectorySwappedDuringCollection(t *testing.T) {
	e := newHostileEnv(t, execroot.Budgets{})
	marker := "swapper-" + strconv.Itoa(os.Getpid())
	// $0 is the marker, so the loop shows on the host's process list.
	const swap = `mkdir -p out && echo data > out/f && (
		while :; do
			mv out out.real && ln -s / out && rm out && ln -s ../../../../../.. out && rm out && mv out.real out
		done
	) >/dev/null 2>&1 &
	# Let the loop run a little: the action ends while it swaps.
	i=0; while [ $i -lt 200 ]; do i=$((i+1)); ls out >/dev/null 2>&1; done; true`
	for i := 0; i < 5; i++ {
		cmd := &repb.Command{OutputDirectories: []string{"out"}}
		r := e.run(t, cmd, swap, marker)
		if procs := processes(t, marker); len(procs) != 0 {
			t.Fatalf("processes of the action left when Run returned: %v", procs)
		}
		ar, st := collect(t, r, cmd)
		switch st.Code() {
		case codes.FailedPrecondition: // out was the symlink to /
		case codes.OK:
			for _, od := range ar.OutputDirectories {
				root, children := readTree(t, e.s, od.TreeDigest)
				if len(root.Directories) != 0 || len(root.Files) > 1 || len(children) != 0 {
					t.Errorf("round %d: the output directory holds %v; want at most the file f", i, root)
				}
			}
			t.Logf("round %d: directories %d, directory symlinks %v", i, len(ar.OutputDirectories), ar.OutputDirectorySymlinks)
		default:
			t.Fatalf("round %d: CollectOutputs: %v", i, st)
		}
		e.checkNoHostFiles(t, ar)
	}
}

// processes lists host processes whose command line contains marker.
func processes(t *testing.T, marker string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, ent := range ents {
		if _, err := strconv.Atoi(ent.Name()); err != nil || ent.Name() == strconv.Itoa(os.Getpid()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(marker)) {
			found = append(found, ent.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// TestHugeOutputs: many files, very deep trees and paths longer than
// PATH_MAX in an output directory fail with RESOURCE_EXHAUSTED naming the
// limit. The budget is small here to keep the test fast.
func TestHugeOutputs(t *testing.T) {
	e := newHostileEnv(t, execroot.Budgets{MaxEntries: 1000})
	long := strings.Repeat("d", 250)
	for _, tc := range []struct {
		name, script, wantMessage string
	}{
		{"many files in one directory", "mkdir out && cd out && seq 1 2000 | xargs touch", "more than 1000 entries"},
		{"many files in many directories", "mkdir out && cd out && for d in $(seq 1 20); do mkdir $d && (cd $d && seq 1 60 | xargs touch); done", "more than 1000 entries"},
		{"a very deep tree", "mkdir out && cd out && i=0; while [ $i -lt 300 ]; do mkdir d && cd d; i=$((i+1)); done", "deeper than"},
		{"a path longer than PATH_MAX", "mkdir out && cd out && i=0; while [ $i -lt 30 ]; do mkdir " + long + " && cd " + long + "; i=$((i+1)); done && touch f", "PATH_MAX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := &repb.Command{OutputDirectories: []string{"out"}}
			r := e.run(t, cmd, tc.script)
			_, st := collect(t, r, cmd)
			if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), tc.wantMessage) {
				t.Fatalf("CollectOutputs: %v; want RESOURCE_EXHAUSTED mentioning %q", st, tc.wantMessage)
			}
		})
	}
}
