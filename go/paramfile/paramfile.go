// Package paramfile expands Bazel params files on a tool's command line,
// so that long argument lists can reach the tool through a file.
package paramfile

import (
	"fmt"
	"os"
	"strings"
)

// Expand returns args with every argument "@FILE" replaced by the lines of
// FILE, one argument a line, in order. Empty lines are dropped and a
// carriage return ending a line is not part of it. A lone "@" stays an
// argument; an argument inside FILE is not expanded again.
func Expand(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "@") || len(a) == 1 {
			out = append(out, a)
			continue
		}
		data, err := os.ReadFile(a[1:])
		if err != nil {
			return nil, fmt.Errorf("reading params file: %w", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSuffix(line, "\r"); line != "" {
				out = append(out, line)
			}
		}
	}
	return out, nil
}
