// Package guest is what /init does in actiond's VM: it mounts the kernel's
// file systems, enables the cgroup v2 controllers the sandbox enforces
// limits with, finds and mounts the CAS disk (formatting it on first boot
// only, and only when it is empty) and the runtime SquashFS, then runs the
// same daemon as `linux_actiond serve` on the host-guest channel.
//
// The work is split over two processes of the same binary. PID 1 (Run)
// does the boot steps, then starts the daemon as its child (Serve) and does
// nothing but reap: a PID 1 must wait for every orphan re-parented to it,
// and a wait for any child in the daemon's own process would steal the
// exit statuses its sandbox waits for. When the daemon exits (the host
// closed the channel, or SIGTERM reached PID 1 and was passed on), PID 1
// kills what is left, syncs, unmounts and powers the VM off.
//
// Every boot step has a name; a failure prints "actiond guest: <step>:
// <cause>" on the console and powers off, so the host can report the cause
// from the console's last lines.
//
// Parsing and detection (the kernel command line, file system signatures,
// device probing) build on every system and are tested on the host; the
// steps that mount, format and power off are Linux-only.
package guest
