// Package activity keeps what a daemon is doing for people to look at: the
// actions queued and running, the last ones finished, and a Snapshot of it
// all with the daemon's storage and runtimes, which the status page, the
// `status` command and the VM host read.
package activity
