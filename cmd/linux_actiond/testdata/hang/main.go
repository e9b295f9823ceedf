// Command hang is a stand-in guest /init for serve-vm tests: it says so on
// the console and then never answers, like a guest stuck while booting.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	fmt.Fprintln(os.Stdout, "hang-init: this guest never answers")
	for {
		time.Sleep(time.Hour)
	}
}
