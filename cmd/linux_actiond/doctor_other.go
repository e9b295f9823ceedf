//go:build !linux

package main

import (
	"fmt"
	"io"
)

// runDoctor checks a Linux host; macOS hosts have darwin_actiond doctor.
func runDoctor(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "linux_actiond doctor: runs on Linux only; on macOS use darwin_actiond doctor")
	return 2
}
