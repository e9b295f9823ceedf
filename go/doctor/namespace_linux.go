//go:build linux

package doctor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// namespaceKind is a namespace the sandbox makes for each action.
type namespaceKind struct {
	name  string
	flag  uintptr
	needs string // what the sandbox does with it
}

var namespaceKinds = []namespaceKind{
	{"mount namespace", unix.CLONE_NEWNS, "each action gets its own root"},
	{"pid namespace", unix.CLONE_NEWPID, "an action's processes are found and killed together"},
	{"net namespace", unix.CLONE_NEWNET, "actions get loopback only"},
	{"ipc, uts and cgroup namespaces", unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP, "actions share no IPC, hostname or cgroup view"},
}

// namespace tries to start a process in a new namespace of kind (and, not
// as root, a user namespace around it, as rootless mode does).
func namespace(kind namespaceKind, root bool) Check {
	c := Check{Name: kind.name, Impact: serveOnly(Blocks)}
	if err := tryClone(kind.flag, root); err != nil {
		c.State, c.Detail = Missing, fmt.Sprintf("cannot create one: %v", err)
		c.Fix = "use a kernel with namespaces (CONFIG_NAMESPACES); in a container, run it privileged or with CAP_SYS_ADMIN and no seccomp profile blocking clone"
		if errors.Is(err, errNoTrue) {
			c.State, c.Detail, c.Fix = Skipped, err.Error(), ""
		}
		return c
	}
	c.Detail = "created one: " + kind.needs
	return c
}

var errNoTrue = errors.New("no `true` program in PATH to start in it")

// tryClone starts `true` with flags (plus CLONE_NEWUSER, mapping our uid
// and gid to 0, when not root) and waits for it: an error is the clone's
// or the process's failure.
func tryClone(flags uintptr, root bool) error {
	truePath, err := lookPath("true")
	if err != nil {
		return errNoTrue
	}
	sys := &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
	if !root {
		sys.Cloneflags |= syscall.CLONE_NEWUSER
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		sys.GidMappingsEnableSetgroups = false
	}
	cmd := exec.Command(truePath)
	cmd.SysProcAttr = sys
	return cmd.Run()
}

// lookPath is exec.LookPath, also in /usr/sbin and /sbin, which a user's
// PATH may lack.
func lookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"} {
		if st, serr := os.Stat(dir + "/" + name); serr == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return dir + "/" + name, nil
		}
	}
	return "", err
}
