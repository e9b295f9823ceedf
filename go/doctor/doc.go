// Package doctor checks what a host offers actiond and says, per command
// (serve, serve-vm), whether it can work there and what it does without.
//
// A check is one thing the host has or lacks (root or user namespaces, a
// namespace kind, a file system, /dev/kvm that boots a guest, free disk).
// Each missing check says, per mode, whether it blocks the mode or only
// degrades it, and how to fix it in one line. The checks themselves are
// per operating system (Run in run_linux.go and run_darwin.go); the report,
// its verdicts and its exit status are portable.
package doctor
