package squashfs_test

import (
	"bytes"
	"testing"

	"github.com/actiond/actiond/go/squashfs"
)

// Options.Progress counts every file byte once, duplicates included, ends
// at the total, and leaves the image as it is without it.
func TestWriteProgress(t *testing.T) {
	build := func(progress func(done, total int64)) []byte {
		b := newBuilder(t, squashfs.Options{Compression: squashfs.Gzip, Workers: 2, Progress: progress})
		for _, err := range []error{
			b.AddFile("big", randomBytes(1, 300_000), 0o644),
			b.AddFile("copy-of-big", randomBytes(1, 300_000), 0o644),
			b.AddFile("small", []byte("hello\n"), 0o644),
			b.AddFile("empty", nil, 0o644),
			b.AddSymlink("link", "big"),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := b.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	const total = 300_000 + 300_000 + 6
	var calls [][2]int64
	withProgress := build(func(done, total int64) { calls = append(calls, [2]int64{done, total}) })
	if len(calls) == 0 {
		t.Fatal("Progress was never called")
	}
	for i, c := range calls {
		if c[1] != total || c[0] > total || (i > 0 && c[0] < calls[i-1][0]) {
			t.Fatalf("call %d: done %d of %d after %v, want a rising done of %d", i, c[0], c[1], calls[:i], total)
		}
	}
	if last := calls[len(calls)-1]; last[0] != total {
		t.Errorf("last call: done %d, want %d", last[0], total)
	}
	if !bytes.Equal(withProgress, build(nil)) {
		t.Error("the image differs with and without Progress")
	}
}
