//go:build linux

package sandbox

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/sandbox/seccomp"
)

// InitArg is the hidden first argument that makes our own binary act as the
// sandbox's first process.
const InitArg = "--actiond-internal-sandbox-init"

// earlyInit runs the sandbox init as soon as this package is initialized.
// Go initializes packages in dependency order, choosing among ready ones by
// import path, so this runs before heavy package initializers that do not
// depend on this package (gRPC, protobuf registries: ~10 ms in the daemon),
// which an init process never needs. MaybeRunInit in main stays as the
// documented, explicit entry point.
var _ = func() struct{} { MaybeRunInit(); return struct{}{} }()

// MaybeRunInit must be called first thing in main (and in TestMain of tests
// that use a Runner). If os.Args[1] is InitArg the process is a sandbox init:
// it sets up the sandbox, runs the command, waits for it, and exits without
// returning. Otherwise it returns at once.
func MaybeRunInit() {
	if len(os.Args) < 2 || os.Args[1] != InitArg {
		return
	}
	// Capabilities, no_new_privs and the bounding set are per thread: the
	// thread that drops them must be the one that forks the command.
	runtime.LockOSThread()
	os.Exit(runInit())
}

// Paths of the skeleton inside the sandbox root.
var devNodes = []string{"null", "zero", "random", "urandom"}

var devLinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
}

var etcFiles = [][2]string{
	{"passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
	{"group", "root:x:0:\nnogroup:x:65534:\n"},
	{"hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"},
	{"nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"},
}

const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// initProcess is the state of the sandbox init (PID 1 of the action's pid
// namespace).
type initProcess struct {
	cfg    initConfig
	report *os.File
	// resetOnFork: the command gets nice 0 from the kernel (setSetupNice).
	resetOnFork bool
}

func runInit() int {
	// Everything the daemon passed beyond stdio is for the init alone.
	_ = unix.CloseRange(configFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	p := &initProcess{report: os.NewFile(reportFD, "report")}
	if len(os.Args) != 4 {
		return p.setupFailed(fmt.Errorf("init arguments %q: want %s ROOT MODE", os.Args[1:], InitArg))
	}
	root, rootless := os.Args[2], os.Args[3] == initModeRootless
	if rootless {
		// As PID 1 we only get signals we handle, but the Go runtime handles
		// them all and exits on SIGTERM and the like. In rootless mode the
		// command shares our uid and could thus kill us; catching (and
		// dropping) the signals that would make us exit prevents that.
		// Handlers reset to default on exec. Not done as root (the command
		// cannot signal us) because each signal costs a round trip to the
		// runtime's signal thread, milliseconds in all.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
			syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM, syscall.SIGPIPE, syscall.SIGVTALRM,
			syscall.SIGPROF, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGSTKFLT, syscall.SIGIO, syscall.SIGPWR)
	}
	unix.Umask(0)
	// Setup is short and every action waits for it, so on a busy machine
	// it runs ahead of the commands (and anything else at nice 0). Nice is
	// per thread on Linux, and this locked thread does all of the setup.
	// Without CAP_SYS_NICE (rootless) this fails and setup keeps nice 0.
	p.resetOnFork = setSetupNice()
	// A pre-started init does all of this before its action arrives.
	if err := prepare(root); err != nil {
		return p.setupFailed(err)
	}
	if err := p.readConfig(); err != nil {
		return p.setupFailed(err)
	}
	if p.cfg.Root != root || p.cfg.Rootless != rootless {
		return p.setupFailed(fmt.Errorf("config for root %q (rootless %v) sent to an init for %q (rootless %v)", p.cfg.Root, p.cfg.Rootless, root, rootless))
	}
	if err := p.openOutputs(); err != nil {
		return p.setupFailed(err)
	}
	if err := p.setup(); err != nil {
		return p.setupFailed(err)
	}
	unix.Umask(0o022)
	return p.runCommand()
}

// setupNice is the init's nice value.
const setupNice = -10

// setSetupNice gives this thread setupNice with SCHED_RESET_ON_FORK, so that
// the command it forks starts at nice 0 while the init keeps setupNice.
// That matters past setup too: the init's fork returns only once its child
// has exec'd, and at equal nice the woken init waited for the new command
// to be preempted (a tick) before it could report the start, 1.0-1.2 ms
// per action against 0.2-0.3 ms for a first fork and exec in a plain
// process on this project's test VM. It reports whether the flag is set;
// if not, the init drops to nice 0 itself before the fork.
func setSetupNice() (resetOnFork bool) {
	attr := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Flags: unix.SCHED_FLAG_RESET_ON_FORK, Nice: setupNice}
	if unix.SchedSetAttr(0, &attr, 0) == nil {
		return true
	}
	_ = unix.Setpriority(unix.PRIO_PROCESS, 0, setupNice)
	return false
}

// Values of the init's mode argument.
const (
	initModeRoot     = "root"
	initModeRootless = "rootless"
)

// prepare does the part of the setup that is the same for every action:
// makes the mount namespace private, brings lo up, names the host, mounts
// the skeleton root and drops the privileges an exec could use. All of it
// only touches this init's own namespaces. Dropping privileges first is
// safe: the bounding set, no_new_privs and the seccomp filter limit what
// an exec can gain and a few syscalls the init never makes, while the
// mounts that follow use the effective set, which stays.
func prepare(root string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / rprivate: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte("localhost")); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	if err := skeleton(root); err != nil {
		return err
	}
	return dropPrivileges()
}

func (p *initProcess) send(r initReport) {
	_, _ = p.report.Write(r.appendTo(nil))
}

// finish sends the init's last report and closes the report pipe: the
// daemon takes its EOF as the end of the action, without waiting for this
// process to exit (which includes the kernel unmounting everything and
// freeing the namespaces).
func (p *initProcess) finish(r initReport) {
	p.send(r)
	_ = p.report.Close()
}

func (p *initProcess) setupFailed(err error) int {
	p.finish(initReport{Kind: reportSetup, Error: err.Error()})
	return initSetupFailed
}

func (p *initProcess) readConfig() error {
	f := os.NewFile(configFD, "config")
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := p.cfg.unmarshal(b); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	return nil
}

// openOutputs opens the output files (created by the daemon) as fds 1 and
// 2, which the command inherits; init messages go there too.
func (p *initProcess) openOutputs() error {
	open := func(path string) (int, error) {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("open output file: %w", err)
		}
		return fd, nil
	}
	out, err := open(p.cfg.Stdout)
	if err != nil {
		return err
	}
	errFD := out
	if p.cfg.Stderr != p.cfg.Stdout {
		if errFD, err = open(p.cfg.Stderr); err != nil {
			return err
		}
	}
	for _, d := range [][2]int{{out, 1}, {errFD, 2}} {
		if err := unix.Dup3(d[0], d[1], 0); err != nil {
			return fmt.Errorf("install output file: %w", err)
		}
	}
	unix.Close(out)
	if errFD != out {
		unix.Close(errFD)
	}
	return nil
}

// source is a host path opened before chroot so that mounts made after it
// can refer to it as /proc/self/fd/N: resolving targets inside the chroot
// keeps symlinks planted in writable mounts from pointing mounts or mkdirs at
// host paths.
type source struct {
	fd   int
	mode uint32
}

func (s source) path() string { return "/proc/self/fd/" + strconv.Itoa(s.fd) }

func openSource(path string) (source, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return source{}, fmt.Errorf("open mount source %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return source{}, fmt.Errorf("stat mount source %s: %w", path, err)
	}
	return source{fd: fd, mode: st.Mode}, nil
}

// setup makes the action's mounts on the prepared skeleton and enters it.
func (p *initProcess) setup() error {
	cfg := &p.cfg
	// Open every host path first; mounts happen after chroot.
	sources := make([][]source, len(cfg.Mounts))
	for i, m := range cfg.Mounts {
		var paths []string
		switch m.Kind {
		case Bind:
			paths = []string{m.Source}
		case Overlay:
			paths = append(paths, m.Lower...)
			if m.Upper != "" {
				paths = append(paths, m.Upper, m.Work)
			}
		}
		for _, path := range paths {
			s, err := openSource(path)
			if err != nil {
				return err
			}
			sources[i] = append(sources[i], s)
		}
	}
	if err := unix.Chroot(cfg.Root); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	for i, m := range cfg.Mounts {
		if err := p.mount(m, sources[i]); err != nil {
			return fmt.Errorf("%s mount on %s: %w", m.Kind, m.Target, err)
		}
		for _, s := range sources[i] {
			unix.Close(s.fd)
		}
	}
	if err := unix.Chdir(cfg.Dir); err != nil {
		return fmt.Errorf("chdir to working directory %s: %w", cfg.Dir, err)
	}
	return nil
}

// loopbackUp brings lo up in the new network namespace; the kernel then
// configures 127.0.0.1/8 and ::1 on it by itself.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: set flags: %w", err)
	}
	return nil
}

// skeleton mounts the tmpfs root and fills in /dev, /proc, /tmp and /etc.
// The /etc files are shadowed when the action mounts a runtime's /etc.
func skeleton(root string) error {
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs root: %w", err)
	}
	for _, d := range []struct {
		name string
		mode uint32
	}{{"dev", 0o755}, {"dev/shm", 0o1777}, {"proc", 0o555}, {"tmp", 0o1777}} {
		if err := unix.Mkdir(root+"/"+d.name, d.mode); err != nil {
			return fmt.Errorf("create /%s: %w", d.name, err)
		}
	}
	for _, name := range devNodes {
		target := root + "/dev/" + name
		if err := createFile(target, 0o666, ""); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+name, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", name, err)
		}
	}
	for _, l := range devLinks {
		if err := unix.Symlink(l[1], root+"/dev/"+l[0]); err != nil {
			return fmt.Errorf("create /dev/%s: %w", l[0], err)
		}
	}
	if err := unix.Mkdir(root+"/etc", 0o755); err != nil {
		return fmt.Errorf("create /etc: %w", err)
	}
	for _, f := range etcFiles {
		if err := createFile(root+"/etc/"+f[0], 0o644, f[1]); err != nil {
			return err
		}
	}
	if err := unix.Mount("proc", root+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	return nil
}

func createFile(path string, mode uint32, content string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer unix.Close(fd)
	if content != "" {
		if _, err := unix.Write(fd, []byte(content)); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// mount makes one caller mount; it runs inside the chroot.
func (p *initProcess) mount(m Mount, srcs []source) error {
	if m.Kind == Overlay && len(m.Lower) == 1 && m.Upper == "" {
		// overlayfs refuses a single lower layer without an upper one
		// (EINVAL); a read-only bind shows the same tree.
		m.Kind, m.ReadOnly = Bind, true
	}
	switch m.Kind {
	case Bind:
		src := srcs[0]
		isDir := src.mode&unix.S_IFMT == unix.S_IFDIR
		if isDir {
			if err := os.MkdirAll(m.Target, 0o755); err != nil {
				return err
			}
		} else {
			if err := os.MkdirAll(filepath.Dir(m.Target), 0o755); err != nil {
				return err
			}
			if err := createFile(m.Target, 0o644, ""); err != nil {
				return err
			}
		}
		if err := unix.Mount(src.path(), m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID}
		if t := src.mode & unix.S_IFMT; t != unix.S_IFCHR && t != unix.S_IFBLK {
			attr.Attr_set |= unix.MOUNT_ATTR_NODEV
		}
		if m.ReadOnly {
			attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
		}
		// mount_setattr applies to the whole recursive bind, unlike a
		// MS_REMOUNT which would leave submounts writable.
		if err := unix.MountSetattr(unix.AT_FDCWD, m.Target, unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("set mount attributes: %w", err)
		}
		return nil
	case Overlay:
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return err
		}
		lower := make([]string, len(m.Lower))
		for i := range m.Lower {
			lower[i] = srcs[i].path()
		}
		data := "lowerdir=" + strings.Join(lower, ":")
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
		if m.Upper != "" {
			n := len(m.Lower)
			data += ",upperdir=" + srcs[n].path() + ",workdir=" + srcs[n+1].path()
		}
		if m.Upper == "" || m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		if p.cfg.Rootless {
			// trusted.* xattrs need CAP_SYS_ADMIN in the initial user namespace.
			data += ",userxattr"
		}
		return unix.Mount("overlay", m.Target, "overlay", flags, data)
	case Tmpfs:
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return err
		}
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		return unix.Mount("tmpfs", m.Target, "tmpfs", flags, "mode=1777")
	}
	return fmt.Errorf("unknown mount kind %d", m.Kind)
}

// dropPrivileges empties the bounding, inheritable and ambient capability
// sets of this thread (so that no exec, not even of a uid-0 program in
// rootless mode, can gain capabilities) and installs no_new_privs and the
// seccomp filter on all threads. The effective set stays, so the fork can
// still switch to the action's uid; that switch clears it.
func dropPrivileges() error {
	for c := 0; c <= 63; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) {
				break // past CAP_LAST_CAP
			}
			return fmt.Errorf("drop capability %d from bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("get capabilities: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear inheritable capabilities: %w", err)
	}
	return seccomp.Install()
}

// execRetryBudget bounds retries of ETXTBSY: another process forked by the
// daemon can briefly hold a write descriptor of a freshly written
// executable between its fork and exec (golang/go#22315).
const execRetryBudget = time.Second

func (p *initProcess) runCommand() int {
	cfg := &p.cfg
	path, err := lookPath(cfg.Args[0], cfg.Env, cfg.Dir)
	if err != nil {
		return p.execFailed(err)
	}
	if !p.resetOnFork {
		// The command would inherit this thread's nice value.
		_ = unix.Setpriority(unix.PRIO_PROCESS, 0, 0)
	}
	// syscall.ForkExec rather than os.StartProcess: the latter probes pidfd
	// support with an extra fork the first time, i.e. in every init.
	attr := &syscall.ProcAttr{
		Env:   cfg.Env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{},
	}
	if !cfg.Rootless {
		attr.Sys.Credential = &syscall.Credential{Uid: uint32(cfg.UID), Gid: uint32(cfg.GID), Groups: []uint32{}}
	}
	var pid int
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	forked := ts.Nano()
	deadline := time.Now().Add(execRetryBudget)
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		pid, err = syscall.ForkExec(path, cfg.Args, attr)
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || time.Now().After(deadline) {
			break
		}
		time.Sleep(backoff)
	}
	if err != nil {
		return p.execFailed(explainExecError(path, err))
	}
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	p.send(initReport{Kind: reportStarted, Mono: ts.Nano(), Forked: forked})
	// Reap everything (we are PID 1, orphans are re-parented to us) until
	// the command itself ends.
	var exit initReport
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			p.setupFailed(fmt.Errorf("wait for command: %w", err))
			return initSetupFailed
		}
		if wpid != pid {
			continue
		}
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		exit = initReport{Kind: reportExit, ExitCode: ws.ExitStatus(), Mono: ts.Nano()}
		if ws.Signaled() {
			exit.Signal = int(ws.Signal())
			exit.ExitCode = 128 + exit.Signal
		}
		break
	}
	// Kill what the command left behind and reap it all, so that no
	// process of the action is left when the daemon reads the report and
	// collects the outputs. kill(-1) in a pid namespace reaches every
	// process in it but its init.
	_ = unix.Kill(-1, unix.SIGKILL)
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil { // ECHILD: nothing is left
			break
		}
	}
	p.finish(exit)
	return exit.ExitCode
}

// explainExecError makes the common ENOENT on an existing file say what is
// missing: the ELF interpreter of a dynamically linked program, which the
// empty sandbox root only has when the action selects a libc runtime.
func explainExecError(path string, err error) error {
	if !errors.Is(err, syscall.ENOENT) {
		return err
	}
	if _, statErr := os.Stat(path); statErr != nil {
		return err
	}
	interp, ok := elfInterpreter(path)
	if !ok {
		return err
	}
	return fmt.Errorf("%w: its ELF interpreter %s is not in the sandbox; a dynamically linked program needs a runtime, selected with the exec property libc (for example libc=glibc2.36)", err, interp)
}

// elfInterpreter returns the PT_INTERP path of an ELF executable.
func elfInterpreter(path string) (string, bool) {
	f, err := elf.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(prog.Open(), 4096))
		if err != nil {
			return "", false
		}
		return strings.TrimRight(string(b), "\x00"), true
	}
	return "", false
}

func (p *initProcess) execFailed(err error) int {
	msg := fmt.Sprintf("cannot execute %q: %v", p.cfg.Args[0], err)
	fmt.Fprintf(os.Stderr, "actiond sandbox: %s\n", msg)
	p.finish(initReport{Kind: reportExec, Error: msg})
	return 127
}

// lookPath resolves argv0 like execvp: a name with a slash is used as is,
// otherwise each PATH entry (from env, else defaultPath; empty = dir) is
// tried for an executable regular file.
func lookPath(argv0 string, env []string, dir string) (string, error) {
	if strings.Contains(argv0, "/") {
		return argv0, nil
	}
	pathList := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathList = v
		}
	}
	for _, d := range strings.Split(pathList, ":") {
		if d == "" {
			d = dir
		}
		candidate := filepath.Join(d, argv0)
		var st unix.Stat_t
		if unix.Stat(candidate, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("not found in PATH %q", pathList)
}
