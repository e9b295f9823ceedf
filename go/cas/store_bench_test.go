package cas_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"os"
	"testing"

	"github.com/actiond/actiond/go/digest"
)

// BenchmarkWriter measures streaming a 16 MiB blob through a Writer in
// 64 KiB chunks, including hashing, fsync and rename: on the test's temp
// directory (disk-bound) and on /dev/shm (the CPU cost alone).
func BenchmarkWriter(b *testing.B) {
	b.Run("tempdir", func(b *testing.B) { benchmarkWriter(b, b.TempDir()) })
	b.Run("devshm", func(b *testing.B) {
		dir, err := os.MkdirTemp("/dev/shm", "casbench")
		if err != nil {
			b.Skipf("no /dev/shm: %v", err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		benchmarkWriter(b, dir)
	})
}

func benchmarkWriter(b *testing.B, root string) {
	ctx := context.Background()
	s := open(b, root, 0)
	const size = 16 << 20
	data := make([]byte, size)
	rand.Read(data)
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		// A fresh blob each time: vary the first bytes.
		b.StopTimer()
		binary.LittleEndian.PutUint64(data, uint64(i))
		d := digest.OfBytes(data)
		b.StartTimer()
		w, err := s.NewWriter(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < size; off += 64 << 10 {
			if _, err := w.Write(data[off : off+64<<10]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
}

// BenchmarkFindMissing asks about 10,000 digests, half of them stored, in a
// store of 100,000 blobs.
func BenchmarkFindMissing(b *testing.B) {
	ctx := context.Background()
	s := open(b, b.TempDir(), 0)
	var stored []digest.Digest
	for i := range 100_000 {
		data := binary.LittleEndian.AppendUint64(nil, uint64(i))
		d := digest.OfBytes(data)
		if i < 5000 {
			if err := s.Put(ctx, d, data); err != nil {
				b.Fatal(err)
			}
		}
		stored = append(stored, d)
	}
	// The index is what FindMissing reads; 5,000 real blobs plus 5,000
	// absent ones give the same work per digest as a big store.
	query := stored[:10_000]
	b.ResetTimer()
	for b.Loop() {
		if got := s.FindMissing(ctx, query); len(got) != 5000 {
			b.Fatalf("FindMissing found %d missing, want 5000", len(got))
		}
	}
}
