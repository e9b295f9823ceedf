//go:build linux

package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// wantedControllers are the cgroup v2 controllers that enforce Limits.
var wantedControllers = []string{"cpu", "memory", "pids"}

// cgroupParent is a cgroup v2 directory under which every action with limits
// gets its own group.
type cgroupParent struct {
	dir         string
	controllers map[string]bool // the wanted ones enabled for children
	seq         atomic.Uint64
}

// findCgroup2Mount returns the first cgroup2 mount point in mountinfo.
func findCgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - cgroup2 cgroup2 rw"
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok {
			continue
		}
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if len(fields) >= 5 && len(postFields) >= 1 && postFields[0] == "cgroup2" {
			return unescapeMountPath(fields[4]), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup2 file system is mounted")
}

// delegatedCgroup returns where a rootless daemon may put the groups of its
// actions: beside itself in the cgroup it runs in, when that cgroup is
// delegated to its user, as systemd does for user@.service with
// Delegate=yes (a daemon run as a user service gets one). cgroup v2 lets a
// group that holds processes pass no controller to its children, so the
// daemon first moves itself into the leaf <own>/actiond-daemon; the
// actions go under <own>/actiond.
func delegatedCgroup(mnt, procSelfCgroup string) (string, error) {
	b, err := os.ReadFile(procSelfCgroup)
	if err != nil {
		return "", err
	}
	own, err := unifiedCgroupPath(string(b))
	if err != nil {
		return "", err
	}
	ownDir := filepath.Join(mnt, own)
	if err := unix.Access(filepath.Join(ownDir, "cgroup.procs"), unix.W_OK); err != nil {
		return "", fmt.Errorf("the daemon's cgroup %s is not delegated to its user (systemd delegates one to a user service, with Delegate=yes on user@.service): %w", ownDir, err)
	}
	leaf := filepath.Join(ownDir, "actiond-daemon")
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("create cgroup %s: %w", leaf, err)
	}
	// "0" moves the writing process, every thread of it.
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte("0"), 0); err != nil {
		return "", fmt.Errorf("move the daemon into cgroup %s: %w", leaf, err)
	}
	return filepath.Join(ownDir, "actiond"), nil
}

// unifiedCgroupPath returns the cgroup v2 path in a /proc/PID/cgroup text:
// the "0::" line.
func unifiedCgroupPath(procCgroup string) (string, error) {
	for _, line := range strings.Split(procCgroup, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok && strings.HasPrefix(p, "/") {
			return p, nil
		}
	}
	return "", errors.New("the daemon is in no cgroup v2 group (no 0:: line in /proc/self/cgroup)")
}

// unescapeMountPath undoes the octal escapes of mountinfo (\040 for space).
func unescapeMountPath(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			if v, err := strconv.ParseUint(p[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// setupCgroupParent prepares dir for per-action groups and reports which
// wanted controllers it could enable. Without dir it is <cgroup2
// mount>/actiond as root, and in rootless mode <own cgroup>/actiond when the
// daemon's own cgroup is delegated to its user (see delegatedCgroup). It
// returns an error only when cgroup v2 cannot be used at all.
func setupCgroupParent(dir string, rootless bool) (*cgroupParent, error) {
	ownParent := false
	if dir == "" {
		mnt, err := findCgroup2Mount()
		if err != nil {
			return nil, err
		}
		if rootless {
			if dir, err = delegatedCgroup(mnt, "/proc/self/cgroup"); err != nil {
				return nil, err
			}
		} else {
			dir = filepath.Join(mnt, "actiond")
		}
		ownParent = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	// The parent must delegate the controllers to dir before dir can pass
	// them on; we only touch the parent when it is the hierarchy root we
	// chose ourselves, a given CgroupRoot must come delegated. Each
	// controller is enabled separately so one missing does not hide others.
	for _, c := range wantedControllers {
		if ownParent {
			_ = os.WriteFile(filepath.Join(filepath.Dir(dir), "cgroup.subtree_control"), []byte("+"+c), 0)
		}
		_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0)
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a cgroup v2 directory: %w", dir, err)
	}
	enabled := strings.Fields(string(b))
	p := &cgroupParent{dir: dir, controllers: map[string]bool{}}
	for _, c := range wantedControllers {
		if slices.Contains(enabled, c) {
			p.controllers[c] = true
		}
	}
	return p, nil
}

// missing lists the wanted controllers that are not available.
func (p *cgroupParent) missing() []string {
	var out []string
	for _, c := range wantedControllers {
		if p == nil || !p.controllers[c] {
			out = append(out, c)
		}
	}
	return out
}

// enforces reports whether some limit of l can be enforced here.
func (p *cgroupParent) enforces(l Limits) bool {
	if p == nil {
		return false
	}
	return (l.MemoryBytes > 0 && p.controllers["memory"]) ||
		(l.CPUMillis > 0 && p.controllers["cpu"]) ||
		(l.Pids > 0 && p.controllers["pids"])
}

// actionCgroup is one action's group; fd is handed to clone3 so the init
// starts inside it (CLONE_INTO_CGROUP) and so does everything it forks.
type actionCgroup struct {
	dir string
	fd  int
}

func (p *cgroupParent) create(l Limits) (*actionCgroup, error) {
	dir := filepath.Join(p.dir, "action-"+strconv.FormatUint(p.seq.Add(1), 10)+"-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	g := &actionCgroup{dir: dir, fd: -1}
	write := func(file, value string) error {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
			return fmt.Errorf("set cgroup %s: %w", file, err)
		}
		return nil
	}
	var err error
	if l.MemoryBytes > 0 && p.controllers["memory"] {
		err = errors.Join(err, write("memory.max", strconv.FormatInt(l.MemoryBytes, 10)))
		// No swap: the limit should mean what it says. Absent without swap.
		_ = write("memory.swap.max", "0")
	}
	if l.CPUMillis > 0 && p.controllers["cpu"] {
		const period = 100000 // microseconds
		err = errors.Join(err, write("cpu.max", fmt.Sprintf("%d %d", l.CPUMillis*period/1000, period)))
	}
	if l.Pids > 0 && p.controllers["pids"] {
		err = errors.Join(err, write("pids.max", strconv.FormatInt(l.Pids, 10)))
	}
	if err == nil {
		g.fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		g.remove()
		return nil, err
	}
	return g, nil
}

// limitHits says which limits an action ran into.
type limitHits struct{ memory, pids bool }

// limitHits reads the group's event counters: memory.events' oom_kill
// (the OOM killer killed a process at memory.max) and pids.events' max (a
// fork failed at pids.max). A nil group, or a file the kernel lacks, reads
// as no hit.
func (g *actionCgroup) limitHits() limitHits {
	if g == nil {
		return limitHits{}
	}
	count := func(file, key string) int64 {
		b, err := os.ReadFile(filepath.Join(g.dir, file))
		if err != nil {
			return 0
		}
		return cgroupEventCount(string(b), key)
	}
	return limitHits{memory: count("memory.events", "oom_kill") > 0, pids: count("pids.events", "max") > 0}
}

// cgroupEventCount returns the value of key in a cgroup v2 events file
// ("key value" lines), or 0.
func cgroupEventCount(events, key string) int64 {
	for _, line := range strings.Split(events, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return 0
}

// remove kills whatever is left in the group and deletes it. The pid
// namespace has normally killed everything already; cgroup.kill covers a
// process that raced out of it.
func (g *actionCgroup) remove() error {
	if g.fd >= 0 {
		unix.Close(g.fd)
		g.fd = -1
	}
	_ = os.WriteFile(filepath.Join(g.dir, "cgroup.kill"), []byte("1"), 0)
	var err error
	for i := 0; i < 200; i++ {
		if err = unix.Rmdir(g.dir); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", g.dir, err)
}

// newActionCgroup creates the group of an action with limits l, or returns
// nil when none of them can be enforced here.
func (r *Runner) newActionCgroup(l Limits) (*actionCgroup, error) {
	if !r.cgroups.enforces(l) {
		return nil, nil
	}
	return r.cgroups.create(l)
}

// removeCgroup removes g, if not nil, and logs a failure; the action's init
// must be gone.
func (r *Runner) removeCgroup(g *actionCgroup) {
	if g == nil {
		return
	}
	if err := g.remove(); err != nil {
		r.logger.Warn("cannot remove action cgroup", slog.String("error", err.Error()))
	}
}
