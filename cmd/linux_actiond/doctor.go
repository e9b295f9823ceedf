//go:build linux

package main

import (
	"io"

	"github.com/actiond/actiond/go/doctor"
)

// doctorUsage documents the exit statuses, which scripts may test.
const doctorUsage = `Usage: linux_actiond doctor [flags]

Checks what this host offers serve and serve-vm and prints one line per
check (ok, MISSING with a one-line fix, or skipped), then a verdict for each
command. It runs one action in a real sandbox and, with QEMU and a guest
kernel, boots that kernel under KVM (up to 5 s).

Exit status: 0 serve and serve-vm can both work (maybe without something,
as the verdicts say); 1 serve can work but serve-vm cannot; 3 serve cannot
work; 2 bad arguments.

Flags:
`

func runDoctor(args []string, stdout, stderr io.Writer) int {
	return doctor.Command("linux_actiond", doctorUsage, true, args, stdout, stderr)
}
