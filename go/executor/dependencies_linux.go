//go:build linux

package executor

import "github.com/actiond/actiond/go/sandbox"

// The real sandbox fits Runner; it exists only on Linux.
var _ Runner = (*sandbox.Runner)(nil)
