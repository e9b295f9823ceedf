package execroot

import (
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/internal/rmtree"
	"github.com/actiond/actiond/go/rpcstatus"
)

// actionDirs hands out per-action directories (each holding an empty upper
// and work dir for the overlay and the empty stdout and stderr files) and
// removes them after use, both off the critical path: a warm Prepare and
// Close otherwise do little but create and remove directories and files,
// whose cost is the file system's and grows with a busy disk, so a
// goroutine keeps a few ready and another removes used ones.
type actionDirs struct {
	b      *Builder
	ready  chan string
	doomed chan string
	stop   chan struct{}
	wg     sync.WaitGroup

	mu     sync.RWMutex // guards closed against sends on doomed
	closed bool
}

// Names of the stdio files in an action directory (see Root.StdioFiles).
const (
	stdoutFile = "stdout"
	stderrFile = "stderr"
)

const (
	readyActionDirs  = 4
	doomedActionDirs = 1024
)

func (a *actionDirs) start(b *Builder) {
	a.b = b
	a.ready = make(chan string, readyActionDirs)
	a.doomed = make(chan string, doomedActionDirs)
	a.stop = make(chan struct{})
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		for {
			dir, err := a.make()
			if err != nil {
				b.log.Error("execroot cannot pre-create an action directory", "error", err)
				return // Prepare makes its own
			}
			select {
			case a.ready <- dir:
			case <-a.stop:
				_ = rmtree.Remove(dir)
				return
			}
		}
	}()
	go func() {
		defer a.wg.Done()
		for dir := range a.doomed {
			if err := rmtree.Remove(dir); err != nil {
				b.log.Error("execroot cannot remove an action directory", "path", dir, "error", err)
			}
		}
	}()
}

// get returns a fresh action directory.
func (a *actionDirs) get() (string, error) {
	select {
	case dir := <-a.ready:
		return dir, nil
	default:
		return a.make()
	}
}

// put removes an action directory, in the background when possible.
func (a *actionDirs) put(dir string) error {
	a.mu.RLock()
	if !a.closed {
		select {
		case a.doomed <- dir:
			a.mu.RUnlock()
			return nil
		default:
		}
	}
	a.mu.RUnlock()
	if err := rmtree.Remove(dir); err != nil {
		return rpcstatus.Newf(codes.Internal, "remove action directory: %v", err)
	}
	return nil
}

func (a *actionDirs) make() (string, error) {
	dir := filepath.Join(a.b.workDir, actionsDir, a.b.seq.next())
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", rpcstatus.Newf(codes.Internal, "create action directory: %v", err)
	}
	if err := a.fill(dir); err != nil {
		_ = rmtree.Remove(dir)
		return "", err
	}
	return dir, nil
}

// fill makes the contents of a new action directory.
func (a *actionDirs) fill(dir string) error {
	for _, sub := range []string{"upper", "work"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return rpcstatus.Newf(codes.Internal, "create action directory: %v", err)
		}
	}
	// The upper directory is the root of the action's view: locked like
	// the input directories below it, unless Prepare unlocks it.
	if err := a.b.setDirOwnership(filepath.Join(dir, "upper"), lockedInputDir); err != nil {
		return err
	}
	for _, name := range []string{stdoutFile, stderrFile} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return rpcstatus.Newf(codes.Internal, "create action directory: %v", err)
		}
		f.Close()
	}
	return nil
}

// close stops the goroutines after the pending removals.
func (a *actionDirs) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	close(a.stop)
	close(a.doomed)
	a.mu.Unlock()
	a.wg.Wait()
	for {
		select {
		case dir := <-a.ready:
			_ = rmtree.Remove(dir)
		default:
			return
		}
	}
}
