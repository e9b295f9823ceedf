// Command hostile is the static action binary of the daemon's hostile-input
// tests. Its arguments are steps:
//
//	write PATH TEXT   write TEXT to PATH
//	flood N           write N bytes to stdout
//	background MARK   start a copy of itself that sleeps for a minute with
//	                  MARK on its command line, and do not wait for it
//	sleep MS          sleep MS milliseconds
//	mkdir PATH        create PATH and its parents
//	fill PATH N       write N bytes to PATH, different for every PATH and N
//	linger MARK       (internal) the background copy
package main

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"time"
)

func main() {
	args := os.Args[1:]
	for len(args) > 0 {
		step := args[0]
		var arg string
		if len(args) > 1 {
			arg = args[1]
		}
		switch step {
		case "write":
			if len(args) < 3 {
				fail("write needs PATH TEXT")
			}
			if err := os.WriteFile(args[1], []byte(args[2]), 0o644); err != nil {
				fail(err.Error())
			}
			args = args[1:]
		case "flood":
			n, _ := strconv.ParseInt(arg, 10, 64)
			chunk := bytes.Repeat([]byte("y"), 1<<20)
			for n > 0 {
				w := min(n, int64(len(chunk)))
				if _, err := os.Stdout.Write(chunk[:w]); err != nil {
					fail(err.Error())
				}
				n -= w
			}
		case "background":
			cmd := exec.Command("/proc/self/exe", "linger", arg)
			if err := cmd.Start(); err != nil {
				fail(err.Error())
			}
		case "linger":
			time.Sleep(time.Minute)
		case "mkdir":
			if err := os.MkdirAll(arg, 0o755); err != nil {
				fail(err.Error())
			}
		case "fill":
			if len(args) < 3 {
				fail("fill needs PATH N")
			}
			n, _ := strconv.Atoi(args[2])
			h := fnv.New64a()
			h.Write([]byte(arg))
			r := rand.New(rand.NewPCG(uint64(n), h.Sum64()))
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			if err := os.WriteFile(arg, data, 0o644); err != nil {
				fail(err.Error())
			}
			args = args[1:]
		case "sleep":
			ms, _ := strconv.Atoi(arg)
			time.Sleep(time.Duration(ms) * time.Millisecond)
		default:
			fail("unknown step " + step)
		}
		args = args[2:]
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "hostile:", msg)
	os.Exit(1)
}
