package executor

import (
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/actiond/actiond/go/runtimes"
)

// defaultPath is the search path of an action whose environment sets no
// PATH, as the sandbox's exec uses it.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// missingProgram is what an action that ended with exit status 127 could
// not find: the program (or interpreter) the sandbox could not execute, or
// the command a shell reported not found.
type missingProgram struct {
	what  string   // how the note names it, e.g. "/usr/bin/gcc"
	paths []string // sandbox paths any of which would have been it
}

var (
	elfInterpreterRE = regexp.MustCompile(`ELF interpreter (/\S+) is not in the sandbox`)
	// Shells: "bash: line 1: gcc: command not found", "sh: 1: gcc: not found",
	// "bash: /usr/bin/gcc: No such file or directory".
	commandNotFoundRE = regexp.MustCompile(`(?m)^.*: ([^:\s/]+): (?:command )?not found\s*$`)
	pathNotFoundRE    = regexp.MustCompile(`(?m)^.*: (/[^:\s]+): No such file or directory\s*$`)
	// The dynamic loader, which then exits with 127.
	sharedLibraryRE = regexp.MustCompile(`error while loading shared libraries: ([^:\s/]+): cannot open shared object file`)
)

// libraryDirs are where the dynamic loader looks for a library by default,
// on the architectures there are runtimes for.
var libraryDirs = []string{
	"/lib", "/lib64", "/usr/lib", "/usr/lib64",
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
}

// findMissingProgram works out what an action ending with 127 missed:
// from execErr, the sandbox's message when it could not execute the
// command itself, else from the last lines of its stderr (the dynamic
// loader's missing library, a shell's "not found"). ok is false when
// neither says.
func findMissingProgram(execErr string, argv, env []string, stderrTail string) (missingProgram, bool) {
	if execErr != "" {
		if m := elfInterpreterRE.FindStringSubmatch(execErr); m != nil {
			return missingProgram{what: "the ELF interpreter " + m[1], paths: []string{m[1]}}, true
		}
		if len(argv) == 0 {
			return missingProgram{}, false
		}
		return programPaths(argv[0], env)
	}
	if m := sharedLibraryRE.FindAllStringSubmatch(stderrTail, -1); m != nil {
		lib := m[len(m)-1][1]
		paths := make([]string, len(libraryDirs))
		for i, dir := range libraryDirs {
			paths[i] = path.Join(dir, lib)
		}
		return missingProgram{what: "the shared library " + lib, paths: paths}, true
	}
	if m := pathNotFoundRE.FindAllStringSubmatch(stderrTail, -1); m != nil {
		return programPaths(m[len(m)-1][1], env)
	}
	if m := commandNotFoundRE.FindAllStringSubmatch(stderrTail, -1); m != nil {
		return programPaths(m[len(m)-1][1], env)
	}
	return missingProgram{}, false
}

// programPaths is where name would be in the sandbox: itself when it is
// absolute, each directory of PATH when it is a bare name. A relative path
// names an input, which no runtime provides.
func programPaths(name string, env []string) (missingProgram, bool) {
	switch {
	case path.IsAbs(name):
		return missingProgram{what: name, paths: []string{name}}, true
	case strings.Contains(name, "/") || name == "":
		return missingProgram{}, false
	}
	search := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			search = v
		}
	}
	var paths []string
	for _, dir := range strings.Split(search, ":") {
		if path.IsAbs(dir) {
			paths = append(paths, path.Join(dir, name))
		}
	}
	return missingProgram{what: fmt.Sprintf("%q (searched in PATH %s)", name, search), paths: paths}, len(paths) > 0
}

// missingProgramNote is the line added to the stderr of an action that
// missed m: what the sandbox holds, the exec properties the action set,
// which property would provide m if one would, and the runtimes there are.
// rt is nil when the daemon has no runtime image.
func missingProgramNote(m missingProgram, props properties, rt Runtimes) string {
	var b strings.Builder
	fmt.Fprintf(&b, "actiond: %s is not in the sandbox, which holds only the action's inputs and the runtimes its exec properties ask for (%s). ", m.what, askedRuntimes(props))
	if rt == nil {
		b.WriteString("This server has no runtime image (start it with --runtime-image) so no exec property can provide it.")
		return b.String()
	}
	var offers []string
	for _, p := range m.paths {
		for _, pr := range rt.Providers(p) {
			if o := providerProperty(pr); !slices.Contains(offers, o) {
				offers = append(offers, o)
			}
		}
	}
	switch len(offers) {
	case 0:
		b.WriteString("No runtime here provides it.")
	case 1:
		fmt.Fprintf(&b, "The exec property %s provides it.", offers[0])
	default:
		fmt.Fprintf(&b, "Any of the exec properties %s provides it.", strings.Join(offers, ", "))
	}
	fmt.Fprintf(&b, " Runtimes here: %s=%s; %s=%s.", propLibc, orNone(rt.Names()), propRuntime, orNone(rt.RootfsNames()))
	return b.String()
}

func askedRuntimes(props properties) string {
	var asked []string
	if props.libc != "" {
		asked = append(asked, propLibc+"="+props.libc)
	}
	if props.runtime != "" {
		asked = append(asked, propRuntime+"="+props.runtime)
	}
	if props.requiresBash {
		asked = append(asked, propRequiresBash)
	}
	if len(asked) == 0 {
		return "none asked for"
	}
	return strings.Join(asked, ", ")
}

func providerProperty(p runtimes.Provider) string {
	switch p.Kind {
	case runtimes.KindLibc:
		return propLibc + "=" + p.Name
	case runtimes.KindRootfs:
		return propRuntime + "=" + p.Name
	}
	return propRequiresBash
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(slices.Sorted(slices.Values(names)), "|")
}

// stderrTailBytes is how much of a failed action's stderr is searched for
// a shell's "not found".
const stderrTailBytes = 4096

// readTail returns up to the last n bytes of the file at p ("" if it
// cannot be read).
func readTail(p string, n int64) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-n, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return ""
	}
	return string(b)
}

// appendLine adds line and a newline to the file at p.
func appendLine(p, line string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
