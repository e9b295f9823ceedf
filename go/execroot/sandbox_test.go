//go:build linux

package execroot_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"

	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/sandbox"
)

// TestSandboxAction runs an action in the real sandbox on a prepared root:
// the mounts Root.Mounts returns are what go/sandbox makes, the action user
// (65534) can run input executables, read bound subtrees and write outputs,
// and CollectOutputs finds them afterwards.
func TestSandboxAction(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for the namespace sandbox with overlay mounts")
	}
	s := newStore(t)
	ents := append(bigTree("external/tc", 40), []ent{
		{path: "tools/gen.sh", content: "#!/bin/sh\necho generated > \"$1\"\n", exec: true},
		{path: "src/in.txt", content: "input\n"},
	}...)
	root := putTree(t, s, ents)
	b := newBuilder(t, s, nil)
	cmd := &repb.Command{
		Arguments:         []string{"/bin/sh", "-c", "tools/gen.sh bazel-out/bin/gen.txt && cat external/tc/f001 src/in.txt > bazel-out/bin/cat.txt && mkdir bazel-out/bin/tree && echo t > bazel-out/bin/tree/t && ! touch external/tc/new 2>/dev/null && ! (echo x >> src/in.txt) 2>/dev/null && id -u > bazel-out/bin/uid"},
		OutputFiles:       []string{"bazel-out/bin/cat.txt", "bazel-out/bin/gen.txt", "bazel-out/bin/uid"},
		OutputDirectories: []string{"bazel-out/bin/tree"},
	}
	r := prepare(t, b, root, cmd)
	if ms := r.Mounts("/execroot"); len(ms) != 2 {
		t.Fatalf("mounts: got %+v; want the overlay and the external bind", ms)
	}

	runner, err := sandbox.NewRunner(slog.New(slog.NewTextHandler(io.Discard, nil)), sandbox.Options{})
	if err != nil {
		t.Fatalf("NewRunner: %v", err)
	}
	defer runner.Close()
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
	res, err := runner.Run(context.Background(), spec)
	if err != nil || res.ExitCode != 0 {
		stderr, _ := os.ReadFile(spec.Stderr)
		t.Fatalf("Run: %+v, %v; stderr: %s", res, err, stderr)
	}

	ar := &repb.ActionResult{}
	if err := r.CollectOutputs(context.Background(), cmd, ar); err != nil {
		t.Fatalf("CollectOutputs: %v", err)
	}
	want := map[string]string{
		"bazel-out/bin/gen.txt": "generated\n",
		"bazel-out/bin/cat.txt": "external/tc 1input\n",
		"bazel-out/bin/uid":     "65534\n",
	}
	if len(ar.OutputFiles) != len(want) {
		t.Errorf("output files: got %v; want %v", names2(ar.OutputFiles), want)
	}
	for _, f := range ar.OutputFiles {
		if f.Digest.Hash != digest.OfBytes([]byte(want[f.Path])).Hash {
			t.Errorf("%s: got digest %s; want that of %q", f.Path, f.Digest.Hash, want[f.Path])
		}
	}
	if len(ar.OutputDirectories) != 1 {
		t.Errorf("output directories: got %v; want bazel-out/bin/tree", ar.OutputDirectories)
	}
}
