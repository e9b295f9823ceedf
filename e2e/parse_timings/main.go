// Command parse_timings turns the per-action log lines of a daemon ("action
// done", one per action, with the time of each stage in ms) into a Markdown
// table: for each stage the count, min, p50, p95, mean and max.
//
// Usage: parse_timings [-all] [LOG...]
//
// It reads the logs named, or stdin without any. It understands the JSON
// lines of `linux_actiond serve` and the guest's text lines that `serve-vm`
// carries in the "line" field of its own JSON lines; other lines are
// skipped. Cache hits are left out (they ran nothing) unless -all is given.
// A log without any action fails the command, so a script never reports an
// empty table as a result.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/actiond/actiond/e2e/actionlog"
)

func main() {
	log.SetPrefix("parse_timings: ")
	log.SetFlags(0)
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("parse_timings", flag.ContinueOnError)
	all := fs.Bool("all", false, "count cache hits too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var recs []actionlog.Record
	if fs.NArg() == 0 {
		r, err := actionlog.Read(stdin, *all)
		if err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		recs = r
	}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		r, err := actionlog.Read(f, *all)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		recs = append(recs, r...)
	}
	if len(recs) == 0 {
		return errors.New(`no "action done" records`)
	}
	_, err := io.WriteString(stdout, table(recs))
	return err
}
