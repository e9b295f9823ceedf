// Package initproc is the sandbox init, the first process (PID 1) of an
// action's namespaces, which package sandbox starts by re-executing the
// daemon's own binary with Arg; see package sandbox for what it does. It
// also holds what the daemon and the init share: the configuration, the
// reports and their encoding over the two pipes (protocol.go, codec.go).
//
// # Start-up
//
// The init runs from this package's initialization (init.go), not from
// main: a Go program initializes every package it links before main, and
// the daemon links gRPC, the protobuf registries and log/slog, which an
// init never uses. Go initializes packages in dependency order and, among
// those whose imports are done, in import path order, so this package runs
// as soon as its own imports are initialized, before any package that sorts
// after those imports and does not need them. This only holds while the
// package's imports stay low-level: an import such as path/filepath, which
// sorts after google.golang.org/ and is ready only late, lets the
// registries initialize first. TestInitStartsBeforeHeavyPackages in
// package sandbox checks it; use package path, not path/filepath, and no
// logging here.
package initproc
