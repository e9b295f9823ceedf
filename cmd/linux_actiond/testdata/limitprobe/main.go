// Command limitprobe is an action for the tests of the resource limits in
// VM mode: each mode tries to exceed one limit and prints what it got.
//
//	limitprobe memory MIB   allocate and touch MIB MiB, then print "allocated"
//	limitprobe pids N       start N sleeping children, printing
//	                        "started N" or "fork failed after K: ERR"
//	limitprobe cpu MS       keep two threads busy for MS ms of wall time,
//	                        then print "cpu_ms C", the CPU time used
//	limitprobe fill MIB     write MIB MiB to ./fill, fsync it, and hold it
//	                        (sleep) until killed
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fail("usage: limitprobe memory|pids|cpu N")
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		fail("N must be a positive number")
	}
	switch os.Args[1] {
	case "memory":
		allocate(n)
	case "pids":
		spawn(n)
	case "cpu":
		burn(time.Duration(n) * time.Millisecond)
	case "fill":
		fill(n)
	case "sleep": // what each child of "pids" runs
		time.Sleep(time.Duration(n) * time.Second)
	default:
		fail("unknown mode " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "limitprobe:", msg)
	os.Exit(2)
}

// allocate touches every page, so the memory is really charged.
func allocate(mib int) {
	chunks := make([][]byte, 0, mib)
	for i := 0; i < mib; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		chunks = append(chunks, b)
	}
	runtime.KeepAlive(chunks)
	fmt.Println("allocated", mib, "MiB")
}

// fill takes mib MiB of the disk under the working directory and keeps
// them until the action is killed, so that the tests can fill the disk
// the guest's CAS lives on.
func fill(mib int) {
	f, err := os.Create("fill")
	if err != nil {
		fail(err.Error())
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*7 + 1)
	}
	for i := 0; i < mib; i++ {
		if _, err := f.Write(chunk); err != nil {
			fail(fmt.Sprintf("after %d MiB: %v", i, err))
		}
	}
	if err := f.Sync(); err != nil {
		fail(err.Error())
	}
	fmt.Println("filled", mib, "MiB")
	time.Sleep(time.Hour)
}

// spawn starts n children that sleep; the sandbox kills them at the end.
func spawn(n int) {
	for i := 0; i < n; i++ {
		cmd := exec.Command("/proc/self/exe", "sleep", "600")
		if err := cmd.Start(); err != nil {
			fmt.Printf("fork failed after %d: %v\n", i, err)
			return
		}
	}
	fmt.Println("started", n)
}

// burn spins two goroutines on their own threads for d of wall time and
// reports the process's CPU time.
func burn(d time.Duration) {
	runtime.GOMAXPROCS(2)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			x := 0
			for time.Now().Before(deadline) {
				for j := 0; j < 100000; j++ {
					x += j
				}
			}
			runtime.KeepAlive(x)
		}()
	}
	wg.Wait()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(err.Error())
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Println("cpu_ms", cpu.Milliseconds())
}
