package payload_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/actiond/actiond/go/payload"
)

// FuzzTrailer feeds arbitrary files to Parse. It must never panic, and a
// file it accepts must have every payload's data inside the file, with
// no two overlapping. Seeds are in testdata/fuzz/FuzzTrailer; run longer
// with go test -fuzz=FuzzTrailer ./go/payload.
func FuzzTrailer(f *testing.F) {
	f.Add([]byte("ACTDTRLR"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := payload.Parse(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		type span struct{ off, n int64 }
		var spans []span
		for _, p := range s.Payloads() {
			off, n := payload.DataRange(p)
			if off < 0 || n < 0 || off > int64(len(data)) || n > int64(len(data))-off {
				t.Fatalf("payload %s: data at %d+%d outside the file of %d bytes", p.Name(), off, n, len(data))
			}
			for _, o := range spans {
				if off < o.off+o.n && o.off < off+n {
					t.Fatalf("payload %s: data at %d+%d overlaps %d+%d", p.Name(), off, n, o.off, o.n)
				}
			}
			spans = append(spans, span{off, n})
			// Inflating is bounded by the recorded size; keep runs fast.
			if p.Size() <= 1<<20 {
				_ = p.Verify(context.Background())
			}
		}
	})
}
