package initproc

// MountKind says how a Mount is made; the values are those of
// sandbox.MountKind, which the daemon converts one to one.
type MountKind int

const (
	Bind MountKind = iota
	Overlay
	Tmpfs
)

// String names the kind for error messages.
func (k MountKind) String() string {
	switch k {
	case Bind:
		return "bind"
	case Overlay:
		return "overlay"
	case Tmpfs:
		return "tmpfs"
	}
	return "unknown"
}

// Mount is sandbox.Mount as the init receives it: host paths (Source,
// Lower, Upper, Work) are absolute, Target is absolute inside the sandbox.
type Mount struct {
	Kind       MountKind
	Source     string
	Target     string
	ReadOnly   bool
	Lower      []string
	Upper      string
	Work       string
	LockInputs bool
}
