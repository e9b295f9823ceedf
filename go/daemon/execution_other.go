//go:build !linux

package daemon

import (
	"context"
	"fmt"
	"runtime"
)

// startExecution refuses: actions run in Linux namespaces, so a daemon on
// another system serves only the cache (Config.NoExecution) or forwards to a
// Linux VM.
func (d *Daemon) startExecution(ctx context.Context) error {
	return fmt.Errorf("daemon: remote execution needs a Linux host, not %s: serve the cache only (--no-execution) or run actions in the VM (serve-vm)", runtime.GOOS)
}
