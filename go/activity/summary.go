package activity

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/actiond/actiond/go/progress"
)

// Summary is what a person starting the daemon needs to know: where its
// state is, what its actions can ask for, which limits hold and how to
// point Bazel at it. It travels in a Snapshot, so that a VM host can print
// its guest's.
type Summary struct {
	Root                                string
	CASBytes, CASMaxBytes               int64
	Execution                           bool
	Jobs                                int
	Rootless                            bool
	Libcs, Rootfs                       []string // runtime names (exec properties libc= and runtime=)
	Bash                                bool     // requires-bash can be met
	MemoryLimits, CPULimits, PidsLimits bool     // enforced through cgroup v2
	// TLS is how clients reach it: nil for plain gRPC.
	TLS *SummaryTLS `json:",omitempty"`
}

// Mode says how actions run, for the status page.
func (s Summary) Mode() string {
	switch {
	case !s.Execution:
		return "cache only"
	case s.Rootless:
		return "linux sandbox (rootless)"
	default:
		return "linux sandbox"
	}
}

// RuntimeProperties are the exec properties that select a runtime:
// libc=NAME, runtime=NAME and requires-bash= when a shell is there.
func (s Summary) RuntimeProperties() []string {
	var props []string
	for _, l := range s.Libcs {
		props = append(props, "libc="+l)
	}
	for _, r := range s.Rootfs {
		props = append(props, "runtime="+r)
	}
	if s.Bash {
		props = append(props, "requires-bash=")
	}
	return props
}

// Text renders s for a terminal, for a daemon serving on addr
// (host:port): a few lines, ending with the .bazelrc lines to use.
func (s Summary) Text(addr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "actiond is serving on %s\n", addr)
	fmt.Fprintf(&b, "  state:    %s (CAS %s of %s)\n", s.Root, progress.FormatBytes(s.CASBytes), progress.FormatBytes(s.CASMaxBytes))
	if !s.Execution {
		b.WriteString("  mode:     remote cache only (--no-execution)\n")
	} else {
		mode := "root"
		if s.Rootless {
			mode = "rootless (user namespaces)"
		}
		fmt.Fprintf(&b, "  actions:  %d at once, sandboxed as %s\n", s.Jobs, mode)
		fmt.Fprintf(&b, "  runtimes: %s\n", s.runtimes())
		fmt.Fprintf(&b, "  limits:   %s\n", s.limits())
	}
	b.WriteString("  .bazelrc:\n")
	for _, l := range s.BazelrcLines(addr) {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	return b.String()
}

// BazelrcLines are the .bazelrc lines (config "actiond") that make Bazel
// use a daemon serving on addr: remote execution with the newest libc
// runtime and bash when it has them, else the remote cache alone; with
// TLS, grpcs:// and the certificate flags, with placeholders in capitals
// for the files only the user knows.
func (s Summary) BazelrcLines(addr string) []string {
	url := "grpc://" + addr
	var tlsLines []string
	if s.TLS != nil {
		url = "grpcs://" + addr
		ca := s.TLS.ServerCA
		if ca == "" {
			ca = "CA_OF_THE_SERVER_CERT.pem"
		}
		tlsLines = append(tlsLines, "build:actiond --tls_certificate="+ca)
		if s.TLS.ClientAuth {
			tlsLines = append(tlsLines, "build:actiond --tls_client_certificate=CLIENT_CERT.pem --tls_client_key=CLIENT_KEY.pem")
		}
	}
	if !s.Execution {
		return append([]string{"build:actiond --remote_cache=" + url}, tlsLines...)
	}
	lines := append([]string{
		"build:actiond --remote_executor=" + url,
	}, tlsLines...)
	lines = append(lines, "build:actiond --spawn_strategy=remote --genrule_strategy=remote --remote_local_fallback=false")
	if s.Bash {
		lines = append(lines, "build:actiond --remote_default_exec_properties=requires-bash=")
	}
	if len(s.Libcs) > 0 {
		lines = append(lines, "build:actiond --remote_default_exec_properties=libc="+slices.MaxFunc(s.Libcs, compareVersions))
	}
	return lines
}

func (s Summary) runtimes() string {
	var parts []string
	if len(s.Libcs) > 0 {
		parts = append(parts, "libc="+strings.Join(s.Libcs, "|"))
	}
	if len(s.Rootfs) > 0 {
		parts = append(parts, "runtime="+strings.Join(s.Rootfs, "|"))
	}
	if s.Bash {
		parts = append(parts, "requires-bash")
	}
	if len(parts) == 0 {
		return "none (start with --runtime-image to offer a C library and bash)"
	}
	return strings.Join(parts, ", ")
}

func (s Summary) limits() string {
	var on, off []string
	for _, l := range []struct {
		name string
		on   bool
	}{{"memory", s.MemoryLimits}, {"cpu", s.CPULimits}, {"pids", s.PidsLimits}} {
		if l.on {
			on = append(on, l.name)
		} else {
			off = append(off, l.name)
		}
	}
	switch {
	case len(off) == 0:
		return "memory, cpu and pids limits enforced (cgroup v2)"
	case len(on) == 0:
		return "no cgroup v2 controllers: memory, cpu and pids limits are not enforced"
	}
	return strings.Join(on, ", ") + " enforced; " + strings.Join(off, ", ") + " not (cgroup v2 controllers missing)"
}

// compareVersions orders names such as glibc2.9 and glibc2.36 by their
// numbers, not their bytes.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		na, ra := leadingNumber(a)
		nb, rb := leadingNumber(b)
		switch {
		case ra != a && rb != b: // both start with a number
			if na != nb {
				return na - nb
			}
		case a[0] != b[0]:
			return int(a[0]) - int(b[0])
		default:
			ra, rb = a[1:], b[1:]
		}
		a, b = ra, rb
	}
	return len(a) - len(b)
}

// leadingNumber splits the decimal number s starts with off s (0 and s
// when it starts with none).
func leadingNumber(s string) (int, string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.Atoi(s[:i])
	return n, s[i:]
}
