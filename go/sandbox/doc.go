// Package sandbox runs one command in fresh namespaces, chrooted, as nobody,
// with the mounts it is given.
//
// # How a run works
//
// Go cannot run code between fork and exec, so Runner.Run re-executes the
// daemon's own binary (/proc/self/exe) with InitArg, in new mount, pid, net,
// ipc, uts and cgroup namespaces (plus a user namespace in rootless mode).
// That process, the init, is PID 1 of the action. Before it needs its
// action it makes / rprivate, brings lo up (the only interface), sets the
// host name to "localhost", mounts a tmpfs root with a skeleton (/dev/null,
// zero, random, urandom bound from the host; /dev/fd and /dev/std*;
// /dev/shm and /tmp 1777; /proc of the new pid namespace,
// nosuid,nodev,noexec, with /proc/sys, sysrq-trigger, irq, bus and fs
// read-only; a minimal /etc, which a runtime's /etc shadows), and
// drops what an exec could gain: it empties the capability bounding,
// inheritable and ambient sets, sets no_new_privs and installs the seccomp
// filter of package sandbox/seccomp. The effective set stays for the
// mounts. It then reads its configuration from a pipe, opens the host paths
// of the mounts, chroots into the skeleton and makes the caller's mounts.
// Mount targets are resolved inside the chroot and sources are referred to
// through /proc/self/fd, so a symlink planted in a writable mount cannot
// redirect a mount or mkdir to the host.
//
// The init does its setup at nice -10 (root mode), as every action waits
// for it and it is short, and forks the command at nice 0 again, as uid/gid
// 65534 with no supplementary groups (the uid switch clears the remaining
// capabilities). The command gets stdin /dev/null, stdout and stderr on the
// files named in the Spec, and no other descriptor. The init reaps every
// process until the command ends, then kills (kill -1 reaches every process
// of the pid namespace but its init) and reaps whatever the command left
// behind, reports how the command ended and closes the report pipe. Run
// returns on that report: no process of the action is left, and the init's
// own exit, in which the kernel unmounts everything and frees the
// namespaces, finishes in the background; Close waits for it. A timeout, a
// cancelled context or too much output SIGKILL the init, which kills the
// whole pid namespace; Run then returns once the init is gone.
//
// The init reports over a second pipe whether setup failed (Run returns an
// error, which the executor reports as INTERNAL), whether the command could
// not be executed (ExitCode 127 and a message in the stderr file, not an
// error), or how it ended. Exec is retried for up to a second on ETXTBSY:
// a freshly written executable stays busy while any process forked by the
// daemon in the meantime still holds its write descriptor
// (golang/go#22315).
//
// # Which process runs what
//
// The package holds the code of two processes. The daemon side is Runner
// and the runner*.go files: validating the Spec into the init's config,
// starting inits (or taking a pre-started one), waiting and killing, and
// turning the init's reports into a Result. The init side is package
// internal/initproc, entered from its own initialization (see Cost) or
// through MaybeRunInit: runSandboxInit there lists its steps in order
// (prepare, readConfig, installOutputs, enterRoot, runCommand). Both sides
// share only the configuration, the reports and their encoding over the
// two pipes (initproc's protocol.go and codec.go); Runner converts a Spec's
// Mounts into the init's own copy of the type.
//
// # Rootless mode
//
// When the daemon is not root (or Options.Rootless is set), the action also
// gets a user namespace. An unprivileged process can map only its own uid
// and gid, so the namespace maps them to 65534 and leaves 0 unmapped: the
// command runs as 65534 like in root mode, nothing in the sandbox is root,
// and setuid(0) fails. The init, 65534 too, needs the namespace's
// capabilities for its mounts; it gets them as ambient capabilities, which
// survive its exec, and drops them with the rest before it forks the
// command, which thus has none. Setgroups is denied, as an unprivileged
// user namespace requires, so the command keeps the daemon user's
// supplementary groups (shown as 65534). A root daemon with
// Options.Rootless maps its uid 0: the action is then host uid 0 without
// capabilities, which is why the parts of /proc that only uid 0 may write
// are read-only in every sandbox. Every file the action did not
// create appears owned by 65534: the daemon's own files map to it and all
// others are unmapped. Spec.UID and GID are ignored. Overlays get the
// userxattr option.
//
// Since the action owns its inputs there, ownership cannot keep it from
// changing them as it does in root mode; Mount.LockInputs makes them mount
// points instead (a read-only bind of each file, a bind of each input
// directory), which cannot be changed, removed or renamed.
//
// # Output caps
//
// MaxOutputBytes is enforced by polling the sizes of the two output files
// every 10 ms, not with RLIMIT_FSIZE, which would also cap every output
// file the action writes. A fast writer can overshoot by what it writes in
// one interval; the files are truncated to the cap afterwards and
// Result.OutputTooLarge is set.
//
// # Resource limits
//
// Limits use a per-action cgroup v2 group (memory.max, memory.swap.max=0,
// cpu.max, pids.max), entered atomically at clone (CLONE_INTO_CGROUP) and
// killed (cgroup.kill) and removed at the end. NewRunner checks once which
// controllers it can delegate under Options.CgroupRoot (default
// <cgroup2 mount>/actiond) and logs a warning when some are missing: on a
// cgroup v1 host, or one whose v2 hierarchy has no controllers, limits are
// not enforced, while processes are still confined and killed through the
// pid namespace. There is deliberately no RLIMIT_NPROC fallback for Pids: it
// counts every process of the uid, so concurrent actions, all running as
// 65534, would share (and exhaust) one budget.
//
// # Cost
//
// The init is a Go process, so each action needs one Go runtime start, the
// creation of its namespaces and the skeleton. In root mode the Runner
// keeps Options.Prestart inits started and prepared ahead, waiting on their
// config pipe, so all of that happens off the action's critical path; what
// remains is opening the sources, the action's own mounts and the fork and
// exec of the command. A pre-started init has the daemon's mount namespace
// as it was when the init started, so Runner.Refresh replaces the waiting
// inits after the daemon mounts something actions use (the daemon mounts
// its runtime images before it makes the Runner). The output files are
// opened by the init, from the config, so that a pre-started init needs
// nothing else from its action. To keep a cold start small as well, and
// the CPU that each init takes from running actions, the init runs from
// the initialization of package internal/initproc, whose imports are kept
// low-level, before the daemon's heavy packages (gRPC, protobuf
// registries, log/slog) pay for theirs (TestInitStartsBeforeHeavyPackages
// checks it); it decodes its configuration without reflection; the
// configuration pipe is filled before the init starts; it forks with
// syscall.ForkExec (os.StartProcess would first probe pidfd support with
// an extra fork). Call MaybeRunInit first thing in main anyway.
package sandbox
