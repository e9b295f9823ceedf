package vm

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// bootProgress shows on a terminal how long the guest has been booting,
// and then how long it took.
type bootProgress struct {
	w     io.Writer
	what  string
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

// bootProgressTick is how often the elapsed time is rewritten.
const bootProgressTick = 250 * time.Millisecond

// startBootProgress starts showing the boot of machine (a description,
// may be empty) on w; nil w shows nothing.
func startBootProgress(w io.Writer, machine string) *bootProgress {
	p := &bootProgress{w: w, what: "booting the VM", start: time.Now(), stop: make(chan struct{})}
	if machine != "" {
		p.what = "booting the " + machine
	}
	if w == nil {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(bootProgressTick)
		defer t.Stop()
		for {
			fmt.Fprintf(p.w, "\r%s: %.1fs", p.what, time.Since(p.start).Seconds())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// done ends the line: ready, or failed with err (which the caller
// reports).
func (p *bootProgress) done(err error) {
	if p.w == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	if err != nil {
		fmt.Fprintf(p.w, "\r%s: failed after %.1fs\n", p.what, time.Since(p.start).Seconds())
		return
	}
	fmt.Fprintf(p.w, "\r%s: ready in %.1fs\n", p.what, time.Since(p.start).Seconds())
}
