//go:build linux

package sandbox

import "github.com/actiond/actiond/go/sandbox/internal/initproc"

// InitArg is the hidden first argument that makes our own binary act as the
// sandbox's first process.
const InitArg = initproc.Arg

// MaybeRunInit must be called first thing in main (and in TestMain of tests
// that use a Runner). If os.Args[1] is InitArg the process is a sandbox init:
// it sets up the sandbox, runs the command, waits for it, and exits without
// returning. Otherwise it returns at once.
//
// In a program that links this package the init has already run by then,
// from the initialization of its internal package, which comes before that
// of heavy packages such as the protobuf registries (see the package
// documentation, Cost); the call remains the documented entry.
func MaybeRunInit() { initproc.MaybeRun() }
