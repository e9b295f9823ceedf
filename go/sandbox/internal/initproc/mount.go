package initproc

// MountKind says how a Mount is made (sandbox.MountKind is this type).
type MountKind int

const (
	// Bind mounts the host path Source (file or directory, recursively) on Target.
	Bind MountKind = iota
	// Overlay mounts an overlayfs of Lower (top first) with Upper and Work.
	// Without Upper the overlay is read-only (a single Lower is then bound
	// read-only instead, which overlayfs refuses to mount). The action's
	// user needs permission on the merged directories, whose owner and mode
	// come from the top layer that has them (for the root: Upper).
	Overlay
	// Tmpfs mounts an empty tmpfs, writable by the action user.
	Tmpfs
)

// String names the kind for logs and error messages.
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

// Mount is one mount made inside the sandbox root (sandbox.Mount is this
// type). Host paths (Source, Lower, Upper, Work) are absolute; Target is
// absolute inside the sandbox.
type Mount struct {
	Kind     MountKind
	Source   string
	Target   string
	ReadOnly bool
	Lower    []string
	Upper    string
	Work     string
	// LockInputs (overlays with Upper, rootless mode) makes what the lower
	// layers show at mount time unchangeable to the action, which in
	// rootless mode owns every file: once all mounts are made, each regular
	// file of this mount is bound read-only on itself and each directory
	// with the sticky bit on itself, so that neither can be changed,
	// removed or renamed, while the action can still create files and
	// directories next to them. Entries on other mounts (read-only binds)
	// are left alone, directories without the sticky bit are skipped with
	// everything below them, and so are symbolic links, which cannot be
	// mount points. In root mode it has no effect: the inputs belong to
	// root and their directories are sticky, so ownership already protects
	// them.
	LockInputs bool
}
