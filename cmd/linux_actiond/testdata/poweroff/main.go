// Command poweroff is a stand-in guest /init for serve-vm tests: it says
// goodbye on the console and powers the VM off at once, like a guest whose
// boot fails.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	fmt.Fprintln(os.Stdout, "poweroff-init: this guest powers off before serving")
	syscall.Sync()
	if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintln(os.Stdout, "poweroff-init:", err)
	}
	select {}
}
