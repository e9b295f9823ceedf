package cli

import (
	"io"
	"os"
)

// Terminal returns f as a writer when it is a terminal, else nil: progress
// lines with carriage returns belong on a terminal, not in a log file.
func Terminal(f *os.File) io.Writer {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}
