package vm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// maxSocketPath is the longest path a unix socket address holds on Linux
// and macOS (sun_path less its terminating NUL).
const maxSocketPath = 103

// StateDir is ROOT/vm, the directory serve-vm keeps its lock, the channel
// socket and, by default, the CAS image in, locked for one serve-vm.
type StateDir struct {
	// Dir is ROOT/vm.
	Dir  string
	lock *os.File
}

// OpenStateDir creates and locks root/vm, so that a second serve-vm on the
// same --root is refused instead of fighting over the channel socket.
func OpenStateDir(root string) (*StateDir, error) {
	dir := filepath.Join(root, "vm")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--root %s: %v", root, err)
	}
	if p := filepath.Join(dir, "channel.sock"); len(p) > maxSocketPath {
		return nil, fmt.Errorf("--root %s is too long for a unix socket path (%s has %d bytes, at most %d): give a shorter --root", root, p, len(p), maxSocketPath)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--root %s: %v", root, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("--root %s is in use by another serve-vm: stop that one or give another --root", root)
		}
		return nil, err
	}
	return &StateDir{Dir: dir, lock: f}, nil
}

// ChannelSocket is the unix socket the hypervisor serves the channel on.
func (s *StateDir) ChannelSocket() string { return filepath.Join(s.Dir, "channel.sock") }

// DefaultCASImage is where the CAS image lives unless --cas-image says
// otherwise.
func DefaultCASImage(root string) string { return filepath.Join(root, "vm", "cas.img") }

// Close releases the lock.
func (s *StateDir) Close() error { return s.lock.Close() }
