package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// ParseFlags parses args with fs for the command named cmd (for example
// "linux_actiond serve"), which takes no positional arguments. ok is false
// when the command must stop, with exit its status: 0 after -help, 2 after
// a bad flag (fs has printed why) or an argument left over.
func ParseFlags(fs *flag.FlagSet, args []string, cmd string, stderr io.Writer) (exit int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", cmd, fs.Args())
		return 2, false
	}
	return 0, true
}
