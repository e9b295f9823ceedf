package cas_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
)

// BenchmarkWriter measures streaming a 16 MiB blob through a Writer in
// 64 KiB chunks, including hashing, the rename and the filesystem flush:
// on the test's temp directory (disk-bound) and on /dev/shm (the CPU cost
// alone).
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

// BenchmarkPutParallel measures Put of fresh 1 KiB blobs from 16 goroutines
// (a BatchUpdateBlobs of small files), on the test's temp directory where
// making each blob durable is what costs.
func BenchmarkPutParallel(b *testing.B) {
	ctx := context.Background()
	s := open(b, b.TempDir(), 0)
	salt := make([]byte, 16)
	rand.Read(salt)
	syncs0 := s.Stats().Syncs
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	runWorkers(16, func() {
		data := make([]byte, 1<<10)
		copy(data[8:], salt)
		for {
			i := next.Add(1) - 1
			if i >= int64(b.N) {
				return
			}
			binary.LittleEndian.PutUint64(data, uint64(i))
			if err := s.Put(ctx, digest.OfBytes(data), data); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "blobs/s")
	b.ReportMetric(float64(s.Stats().Syncs-syncs0)/float64(b.N), "syncs/op")
}

// BenchmarkPutFileMove measures MoveFile of fresh 100-byte files
// (action outputs) from 1 goroutine (the latency one output adds to an
// action) and from 4. The files are written and flushed before the timer
// starts, on the store's filesystem, so each is renamed into place.
func BenchmarkPutFileMove(b *testing.B) {
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) { benchmarkPutFileMove(b, workers) })
	}
}

func benchmarkPutFileMove(b *testing.B, workers int) {
	ctx := context.Background()
	root := b.TempDir()
	s := open(b, root, 0)
	outs := filepath.Join(root, "outs")
	if err := os.Mkdir(outs, 0o755); err != nil {
		b.Fatal(err)
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	paths := make([]string, b.N)
	for i := range paths {
		data := binary.LittleEndian.AppendUint64(append([]byte(nil), salt...), uint64(i))
		data = append(data, make([]byte, 100-len(data))...)
		paths[i] = filepath.Join(outs, strconv.Itoa(i))
		if err := os.WriteFile(paths[i], data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	syscall.Sync() // the setup's writes are not what is measured
	syncs0 := s.Stats().Syncs
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	runWorkers(workers, func() {
		for {
			i := next.Add(1) - 1
			if i >= int64(b.N) {
				return
			}
			t0 := time.Now()
			if _, err := s.MoveFile(ctx, paths[i], s.FlushFailures()); err != nil {
				b.Error(err)
				return
			}
			lat[i] = time.Since(t0)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "files/s")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(s.Stats().Syncs-syncs0)/float64(b.N), "syncs/op")
}

func runWorkers(n int, work func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(work)
	}
	wg.Wait()
}

// BenchmarkRead reads a blob the way ByteStream.Read does (Get, then 1 MiB
// ReadAt pieces from the page cache) with the costs of the ways of
// guarding against files changed on disk: Stamp is what the store does
// (Get compares the fstat it made anyway with what it recorded, and Check
// fstats once per piece); NoCheck leaves Check out; HashOnRead hashes
// every piece instead, the alternative doc.go weighs.
func BenchmarkRead(b *testing.B) {
	for _, size := range []int{64 << 10, 16 << 20} {
		s, err := cas.Open(context.Background(), cas.Options{Root: b.TempDir(), MaxBytes: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		data := bytes.Repeat([]byte("read bench "), size/11+1)[:size]
		d := digest.OfBytes(data)
		if err := s.Put(context.Background(), d, data); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for _, mode := range []string{"Stamp", "NoCheck", "HashOnRead"} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, mode), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					blob, err := s.Get(context.Background(), d)
					if err != nil {
						b.Fatal(err)
					}
					h := sha256.New()
					for off := int64(0); off < d.Size; off += int64(len(buf)) {
						n, _ := blob.ReadAt(buf, off)
						switch mode {
						case "Stamp":
							if err := blob.Check(); err != nil {
								b.Fatal(err)
							}
						case "HashOnRead":
							h.Write(buf[:n])
						}
					}
					blob.Close()
				}
			})
		}
	}
}

// BenchmarkPin measures Pin, which input staging calls once per input
// file: a lookup, and an lstat of the blob's file compared with what the
// store recorded.
func BenchmarkPin(b *testing.B) {
	s, err := cas.Open(context.Background(), cas.Options{Root: b.TempDir(), MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	d := digest.OfBytes([]byte("pinned"))
	if err := s.Put(context.Background(), d, []byte("pinned")); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		unpin, err := s.Pin(context.Background(), d)
		if err != nil {
			b.Fatal(err)
		}
		unpin()
	}
}
