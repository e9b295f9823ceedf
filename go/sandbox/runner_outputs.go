//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// outputPollInterval is how often Run checks the output file sizes against
// Spec.MaxOutputBytes. A writer can go over the cap by what it writes in
// this time; the files are truncated afterwards.
const outputPollInterval = 10 * time.Millisecond

// outputFiles are the daemon's descriptors of an action's stdout and
// stderr files, kept open to watch and cap their sizes. The init opens the
// files again for the command.
type outputFiles struct {
	stdout, stderr *os.File
}

// createOutputFiles creates (truncates) the output files. When both paths
// are the same, the two descriptors share one open file (and offset).
func createOutputFiles(stdoutPath, stderrPath string) (*outputFiles, error) {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	stdout, err := os.OpenFile(stdoutPath, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create stdout file: %w", err)
	}
	if stderrPath == stdoutPath {
		// Share one descriptor (and offset) so the streams interleave
		// instead of overwriting each other.
		dup, err := unix.Dup(int(stdout.Fd()))
		if err != nil {
			stdout.Close()
			return nil, fmt.Errorf("duplicate stdout descriptor: %w", err)
		}
		unix.CloseOnExec(dup)
		return &outputFiles{stdout, os.NewFile(uintptr(dup), stderrPath)}, nil
	}
	stderr, err := os.OpenFile(stderrPath, flags, 0o644)
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("create stderr file: %w", err)
	}
	return &outputFiles{stdout, stderr}, nil
}

func (o *outputFiles) close() {
	o.stdout.Close()
	o.stderr.Close()
}

// over reports whether a file is larger than limit.
func (o *outputFiles) over(limit int64) bool {
	return fileSize(o.stdout) > limit || fileSize(o.stderr) > limit
}

// capTo truncates the files larger than limit to it and reports whether
// any was.
func (o *outputFiles) capTo(limit int64) bool {
	over := false
	for _, f := range []*os.File{o.stdout, o.stderr} {
		if fileSize(f) > limit {
			over = true
			_ = f.Truncate(limit)
		}
	}
	return over
}

func fileSize(f *os.File) int64 {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return 0
	}
	return st.Size
}
