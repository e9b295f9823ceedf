package executor

import (
	"strings"
	"testing"

	"github.com/actiond/actiond/go/runtimes"
)

func TestFindMissingProgram(t *testing.T) {
	for _, tc := range []struct {
		name      string
		execErr   string
		argv, env []string
		stderr    string
		wantOK    bool
		wantWhat  string
		wantPaths []string
	}{
		{
			name:    "absolute program the sandbox could not execute",
			execErr: "fork/exec /usr/bin/gcc: no such file or directory",
			argv:    []string{"/usr/bin/gcc", "-c", "x.c"},
			wantOK:  true, wantWhat: "/usr/bin/gcc", wantPaths: []string{"/usr/bin/gcc"},
		},
		{
			name:    "bare name searched in the action's PATH",
			execErr: `exec: "gcc": executable file not found in $PATH`,
			argv:    []string{"gcc"}, env: []string{"HOME=/", "PATH=/opt/bin:relative:/usr/bin"},
			wantOK: true, wantWhat: `"gcc" (searched in PATH /opt/bin:relative:/usr/bin)`,
			wantPaths: []string{"/opt/bin/gcc", "/usr/bin/gcc"},
		},
		{
			name:    "bare name with no PATH set",
			execErr: `exec: "cc": executable file not found in $PATH`,
			argv:    []string{"cc"},
			wantOK:  true, wantWhat: `"cc" (searched in PATH ` + defaultPath + `)`,
			wantPaths: []string{"/usr/local/sbin/cc", "/usr/local/bin/cc", "/usr/sbin/cc", "/usr/bin/cc", "/sbin/cc", "/bin/cc"},
		},
		{
			name:    "missing ELF interpreter",
			execErr: "fork/exec bazel-out/k8-fastbuild/bin/tool: no such file or directory: its ELF interpreter /lib64/ld-linux-x86-64.so.2 is not in the sandbox; a dynamically linked program needs a runtime",
			argv:    []string{"bazel-out/k8-fastbuild/bin/tool"},
			wantOK:  true, wantWhat: "the ELF interpreter /lib64/ld-linux-x86-64.so.2", wantPaths: []string{"/lib64/ld-linux-x86-64.so.2"},
		},
		{
			name:    "relative program: an input, no runtime provides it",
			execErr: "fork/exec bazel-out/bin/gen: no such file or directory",
			argv:    []string{"bazel-out/bin/gen"},
		},
		{
			name:   "bash reports a command not found",
			argv:   []string{"/bin/bash", "-c", "gcc -c x.c"},
			stderr: "some earlier output\n/bin/bash: line 1: gcc: command not found\n",
			wantOK: true, wantWhat: `"gcc" (searched in PATH ` + defaultPath + `)`,
			wantPaths: []string{"/usr/local/sbin/gcc", "/usr/local/bin/gcc", "/usr/sbin/gcc", "/usr/bin/gcc", "/sbin/gcc", "/bin/gcc"},
		},
		{
			name:   "dash reports a command not found",
			argv:   []string{"/bin/sh", "-c", "python3 x.py"},
			env:    []string{"PATH=/usr/bin"},
			stderr: "/bin/sh: 1: python3: not found\n",
			wantOK: true, wantWhat: `"python3" (searched in PATH /usr/bin)`, wantPaths: []string{"/usr/bin/python3"},
		},
		{
			name:   "bash reports an absolute path missing",
			argv:   []string{"/bin/bash", "-c", "/usr/bin/gcc -c x.c"},
			stderr: "/bin/bash: line 1: /usr/bin/gcc: No such file or directory\n",
			wantOK: true, wantWhat: "/usr/bin/gcc", wantPaths: []string{"/usr/bin/gcc"},
		},
		{
			name:   "the dynamic loader misses a library",
			argv:   []string{"bazel-out/bin/tool"},
			stderr: "bazel-out/bin/tool: error while loading shared libraries: libz.so.1: cannot open shared object file: No such file or directory\n",
			wantOK: true, wantWhat: "the shared library libz.so.1",
			wantPaths: []string{"/lib/libz.so.1", "/lib64/libz.so.1", "/usr/lib/libz.so.1", "/usr/lib64/libz.so.1",
				"/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/aarch64-linux-gnu/libz.so.1", "/usr/lib/aarch64-linux-gnu/libz.so.1"},
		},
		{
			name:   "127 from the program itself, nothing reported missing",
			argv:   []string{"/bin/tool"},
			stderr: "tool: giving up\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := findMissingProgram(tc.execErr, tc.argv, tc.env, tc.stderr)
			if ok != tc.wantOK {
				t.Fatalf("findMissingProgram = %+v, %v; want ok %v", m, ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if m.what != tc.wantWhat || strings.Join(m.paths, " ") != strings.Join(tc.wantPaths, " ") {
				t.Errorf("findMissingProgram = %q %q, want %q %q", m.what, m.paths, tc.wantWhat, tc.wantPaths)
			}
		})
	}
}

// fakeProviders is a Runtimes with fixed names and providers.
type fakeProviders struct {
	libcs, rootfs []string
	provides      map[string][]runtimes.Provider
}

func (f fakeProviders) Names() []string       { return f.libcs }
func (f fakeProviders) RootfsNames() []string { return f.rootfs }
func (f fakeProviders) Mounts(runtimes.Request) ([]runtimes.Mount, error) {
	return nil, nil
}
func (f fakeProviders) Providers(p string) []runtimes.Provider { return f.provides[p] }

func TestMissingProgramNote(t *testing.T) {
	rt := fakeProviders{
		libcs:  []string{"glibc2.36", "glibc2.31"},
		rootfs: []string{"gcc12"},
		provides: map[string][]runtimes.Provider{
			"/usr/bin/gcc":                {{Kind: runtimes.KindRootfs, Name: "gcc12"}},
			"/bin/gcc":                    {{Kind: runtimes.KindRootfs, Name: "gcc12"}},
			"/lib64/ld-linux-x86-64.so.2": {{Kind: runtimes.KindLibc, Name: "glibc2.31"}, {Kind: runtimes.KindLibc, Name: "glibc2.36"}, {Kind: runtimes.KindRootfs, Name: "gcc12"}},
			"/bin/bash":                   {{Kind: runtimes.KindShell, Name: "bash"}},
		},
	}
	for _, tc := range []struct {
		name  string
		m     missingProgram
		props properties
		rt    Runtimes
		want  []string // substrings of the note
	}{
		{
			name:  "one runtime provides it",
			m:     missingProgram{what: "/usr/bin/gcc", paths: []string{"/usr/bin/gcc"}},
			props: properties{libc: "glibc2.36"},
			rt:    rt,
			want: []string{"actiond: /usr/bin/gcc is not in the sandbox, which holds only the action's inputs and the runtimes its exec properties ask for (libc=glibc2.36).",
				"The exec property runtime=gcc12 provides it.", "Runtimes here: libc=glibc2.31|glibc2.36; runtime=gcc12."},
		},
		{
			name: "several provide it, found through two PATH entries once each",
			m:    missingProgram{what: "x", paths: []string{"/usr/bin/gcc", "/bin/gcc", "/lib64/ld-linux-x86-64.so.2"}},
			rt:   rt,
			want: []string{"(none asked for)", "Any of the exec properties runtime=gcc12, libc=glibc2.31, libc=glibc2.36 provides it."},
		},
		{
			name:  "bash",
			m:     missingProgram{what: "/bin/bash", paths: []string{"/bin/bash"}},
			props: properties{runtime: "gcc12", requiresBash: false},
			rt:    rt,
			want:  []string{"(runtime=gcc12)", "The exec property requires-bash provides it."},
		},
		{
			name: "nothing provides it",
			m:    missingProgram{what: "/usr/bin/clang", paths: []string{"/usr/bin/clang"}},
			rt:   rt,
			want: []string{"No runtime here provides it."},
		},
		{
			name: "no runtime image",
			m:    missingProgram{what: "/usr/bin/gcc", paths: []string{"/usr/bin/gcc"}},
			want: []string{"This server has no runtime image (start it with --runtime-image)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := missingProgramNote(tc.m, tc.props, tc.rt)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("note %q\ndoes not contain %q", got, w)
				}
			}
			if strings.Contains(got, "\n") {
				t.Errorf("note %q is more than one line", got)
			}
		})
	}
}
