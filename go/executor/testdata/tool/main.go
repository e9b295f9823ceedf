// Command tool is the static action binary of the executor's integration
// test. Its arguments are a list of steps:
//
//	write PATH TEXT   write TEXT to PATH (creating parent directories)
//	stdout TEXT       print TEXT to stdout
//	stderr TEXT       print TEXT to stderr
//	pwd               print the working directory to stdout
//	getenv NAME       print the value of NAME to stdout
//	sleep MS          sleep MS milliseconds
//	await NAME        wait until the file NAME exists (a test creates it
//	                  through /proc/PID/cwd to let the action go on)
//	tag TEXT          nothing: TEXT in the command line lets a test find
//	                  the process in /proc
//	exit N            exit with status N
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	args := os.Args[1:]
	next := func() string {
		if len(args) == 0 {
			fmt.Fprintln(os.Stderr, "tool: missing argument")
			os.Exit(2)
		}
		a := args[0]
		args = args[1:]
		return a
	}
	for len(args) > 0 {
		switch step := next(); step {
		case "write":
			p, text := next(), next()
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				fail(err)
			}
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				fail(err)
			}
		case "stdout":
			fmt.Fprint(os.Stdout, next())
		case "stderr":
			fmt.Fprint(os.Stderr, next())
		case "pwd":
			wd, err := os.Getwd()
			if err != nil {
				fail(err)
			}
			fmt.Fprint(os.Stdout, wd)
		case "getenv":
			fmt.Fprint(os.Stdout, os.Getenv(next()))
		case "sleep":
			ms, _ := strconv.Atoi(next())
			time.Sleep(time.Duration(ms) * time.Millisecond)
		case "await":
			name := next()
			for {
				if _, err := os.Stat(name); err == nil {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		case "tag":
			next()
		case "exit":
			n, _ := strconv.Atoi(next())
			os.Exit(n)
		default:
			fmt.Fprintf(os.Stderr, "tool: unknown step %q\n", step)
			os.Exit(2)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tool:", err)
	os.Exit(1)
}
