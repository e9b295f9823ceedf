// Command loadaction is the action e2e/load.sh runs thousands of times
// through actiond: `loadaction TAG INDEX` reads in.txt from its input
// root, prints one line naming TAG, INDEX and the input's length to stdout,
// writes out.txt (INDEX, a colon and the input reversed) and exits with
// INDEX mod 7 when that is 3 or 5, else 0, so that the driver checks exit
// codes other than 0 too. loadgen predicts all three from the arguments.
//
// It is built statically (CGO_ENABLED=0, standard library only) so it runs
// in an empty input root, with no runtime image.
package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: loadaction TAG INDEX")
		os.Exit(2)
	}
	tag := os.Args[1]
	i, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadaction:", err)
		os.Exit(2)
	}
	in, err := os.ReadFile("in.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadaction:", err)
		os.Exit(2)
	}
	fmt.Printf("loadaction %s %d read %d bytes\n", tag, i, len(in))
	out := slices.Clone(in)
	slices.Reverse(out)
	if err := os.WriteFile("out.txt", append([]byte(strconv.Itoa(i)+":"), out...), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "loadaction:", err)
		os.Exit(2)
	}
	if c := i % 7; c == 3 || c == 5 {
		os.Exit(c)
	}
}
