//go:build darwin

package main

import (
	"io"

	"github.com/actiond/actiond/go/doctor"
)

// doctorUsage documents the exit statuses, which scripts may test.
const doctorUsage = `Usage: darwin_actiond doctor [flags]

Checks what this Mac offers serve-vm (Apple silicon, the Hypervisor
framework, this binary's virtualization entitlement, a guest kernel, free
disk) and prints one line per check (ok, MISSING with a one-line fix, or
skipped), then a verdict.

Exit status: 0 serve-vm can work; 3 it cannot; 2 bad arguments.

Flags:
`

func runDoctor(args []string, stdout, stderr io.Writer) int {
	return doctor.Command("darwin_actiond", doctorUsage, false, args, stdout, stderr)
}
