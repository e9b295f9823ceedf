//go:build !linux

package main

import (
	"fmt"
	"io"
)

// serveVM needs QEMU's Linux machinery (parent-death signals); macOS hosts
// have darwin_actiond serve-vm.
func serveVM(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "linux_actiond serve-vm: runs on Linux only; on macOS use darwin_actiond serve-vm")
	return 2
}
