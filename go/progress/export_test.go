package progress

import (
	"io"
	"time"
)

// NewWithClock is New with the clock a test drives.
func NewWithClock(w io.Writer, o Options, now func() time.Time) *Reporter {
	return newReporter(w, o, now)
}
