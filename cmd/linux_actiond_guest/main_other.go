//go:build !linux

// Command linux_actiond_guest is /init in actiond's Linux VM; it does
// nothing elsewhere (see main.go).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "linux_actiond_guest: the VM's /init runs on Linux only")
	os.Exit(2)
}
