package cli

import (
	"io"
	"os"

	"github.com/actiond/actiond/go/progress"
)

// Terminal returns f as a writer when it is a terminal, else nil: progress
// lines with carriage returns belong on a terminal, not in a log file.
func Terminal(f *os.File) io.Writer { return progress.Terminal(f) }
