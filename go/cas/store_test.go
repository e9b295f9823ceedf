package cas_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
)

func open(t testing.TB, root string, maxBytes int64) *cas.Store {
	t.Helper()
	s, err := cas.Open(context.Background(), cas.Options{Root: root, MaxBytes: maxBytes})
	if err != nil {
		t.Fatalf("Open(%s) = %v", root, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// blob returns n bytes derived from seed and their digest.
func blob(seed string, n int) ([]byte, digest.Digest) {
	b := bytes.Repeat([]byte(seed), n/len(seed)+1)[:n]
	return b, digest.OfBytes(b)
}

func mustPut(t testing.TB, s *cas.Store, data []byte) digest.Digest {
	t.Helper()
	d := digest.OfBytes(data)
	if err := s.Put(context.Background(), d, data); err != nil {
		t.Fatalf("Put(%s) = %v", d, err)
	}
	return d
}

func wantCode(t testing.TB, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: err = %v (code %v), want code %v", what, err, got, want)
	}
}

func tmpEntries(t testing.TB, root string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(root, "cas", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestEmptyBlobPresent(t *testing.T) {
	root := t.TempDir()
	s := open(t, root, 0)
	if !s.Contains(context.Background(), digest.Empty) {
		t.Fatal("Contains(empty) = false, want true")
	}
	got, err := s.ReadAll(context.Background(), digest.Empty, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadAll(empty) = %q, %v; want empty, nil", got, err)
	}
	// Even when someone deletes it behind the store's back, Open restores it.
	s.Close()
	if err := os.Remove(s.Path(digest.Empty)); err != nil {
		t.Fatal(err)
	}
	s = open(t, root, 0)
	if _, err := os.Stat(s.Path(digest.Empty)); err != nil {
		t.Errorf("empty blob file after reopen: %v", err)
	}
	if st := s.Stats(); st.MaxBytes <= 0 {
		t.Errorf("default MaxBytes = %d, want > 0", st.MaxBytes)
	}
}

func TestPut(t *testing.T) {
	data, d := blob("hello", 1000)
	tests := []struct {
		name     string
		d        digest.Digest
		data     []byte
		wantCode codes.Code
	}{
		{"ok", d, data, codes.OK},
		{"wrong bytes", d, append([]byte("x"), data[1:]...), codes.InvalidArgument},
		{"wrong size", digest.Digest{Hash: d.Hash, Size: d.Size + 1}, data, codes.InvalidArgument},
		{"malformed hash", digest.Digest{Hash: "abc", Size: 3}, []byte("abc"), codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s := open(t, root, 0)
			err := s.Put(context.Background(), tc.d, tc.data)
			wantCode(t, "Put", err, tc.wantCode)
			if err != nil && len(tc.d.Hash) == 64 && !strings.Contains(err.Error(), tc.d.String()) {
				t.Errorf("error %q does not name the claimed digest %s", err, tc.d)
			}
			if got := s.Contains(context.Background(), tc.d); got != (tc.wantCode == codes.OK) {
				t.Errorf("Contains = %v, want %v", got, tc.wantCode == codes.OK)
			}
			if tc.wantCode != codes.OK && len(tc.d.Hash) == 64 {
				if _, err := os.Stat(s.Path(tc.d)); !os.IsNotExist(err) {
					t.Errorf("blob file exists after rejected Put: %v", err)
				}
			}
			if n := tmpEntries(t, root); len(n) != 0 {
				t.Errorf("temp files left: %v", n)
			}
		})
	}
}

func TestWriter(t *testing.T) {
	data, d := blob("abcdefg", 100_000)
	wrong := bytes.Clone(data)
	wrong[5000] ^= 1
	tests := []struct {
		name       string
		preload    bool // blob already stored
		chunks     [][]byte
		wantWrite  codes.Code
		wantCommit codes.Code
	}{
		{"one chunk", false, [][]byte{data}, codes.OK, codes.OK},
		{"many chunks", false, [][]byte{data[:1], data[1:16384], data[16384:50000], data[50000:]}, codes.OK, codes.OK},
		{"mismatched bytes", false, [][]byte{wrong}, codes.OK, codes.InvalidArgument},
		{"short", false, [][]byte{data[:99_999]}, codes.OK, codes.InvalidArgument},
		{"past declared size", false, [][]byte{data, []byte("x")}, codes.InvalidArgument, codes.InvalidArgument},
		{"existing blob", true, [][]byte{data}, codes.OK, codes.OK},
		{"existing blob, wrong bytes", true, [][]byte{wrong}, codes.OK, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			s := open(t, root, 0)
			if tc.preload {
				mustPut(t, s, data)
			}
			w, err := s.NewWriter(ctx, d)
			if err != nil {
				t.Fatalf("NewWriter = %v", err)
			}
			defer w.Close()
			var writeErr error
			for _, c := range tc.chunks {
				if _, err := w.Write(c); err != nil {
					writeErr = err
					break
				}
			}
			wantCode(t, "Write", writeErr, tc.wantWrite)
			wantCode(t, "Commit", w.Commit(), tc.wantCommit)
			if err := w.Close(); err != nil {
				t.Errorf("Close after Commit = %v", err)
			}
			stored := tc.preload || tc.wantCommit == codes.OK
			if got := s.Contains(ctx, d); got != stored {
				t.Errorf("Contains = %v, want %v", got, stored)
			}
			if stored {
				got, err := s.ReadAll(ctx, d, 1<<20)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("ReadAll = %d bytes, %v; want the written data", len(got), err)
				}
				fi, err := os.Stat(s.Path(d))
				if err != nil || fi.Mode().Perm() != 0o444 {
					t.Errorf("blob file mode = %v, %v; want 0444", fi.Mode(), err)
				}
			}
			if n := tmpEntries(t, root); len(n) != 0 {
				t.Errorf("temp files left: %v", n)
			}
			if st := s.Stats(); stored && st.Bytes != d.Size || !stored && st.Bytes != 0 {
				t.Errorf("Stats().Bytes = %d, want %d", st.Bytes, map[bool]int64{true: d.Size}[stored])
			}
		})
	}
}

func TestWriterResumable(t *testing.T) {
	// A ByteStream service keeps a Writer open between calls, possibly on
	// other goroutines; Written is the committed size to resume from.
	ctx := context.Background()
	s := open(t, t.TempDir(), 0)
	data, d := blob("resume", 3<<20)
	w, err := s.NewWriter(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var wg sync.WaitGroup
	for _, part := range [][2]int{{0, 1 << 20}, {1 << 20, 2 << 20}, {2 << 20, 3 << 20}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.Write(data[part[0]:part[1]]); err != nil {
				t.Errorf("Write = %v", err)
			}
		}()
		wg.Wait()
		if got := w.Written(); got != int64(part[1]) {
			t.Fatalf("Written() = %d, want %d", got, part[1])
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit = %v", err)
	}
	if !s.Contains(ctx, d) {
		t.Error("blob missing after resumed upload")
	}
}

func TestConcurrentWritersOfOneBlob(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := open(t, root, 0)
	data, d := blob("concurrent", 1<<20)
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				errs[i] = s.Put(ctx, d, data)
				return
			}
			w, err := s.NewWriter(ctx, d)
			if err != nil {
				errs[i] = err
				return
			}
			defer w.Close()
			for off := 0; off < len(data); off += 64 << 10 {
				if _, err := w.Write(data[off : off+64<<10]); err != nil {
					errs[i] = err
					return
				}
			}
			errs[i] = w.Commit()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	got, err := s.ReadAll(ctx, d, 1<<21)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %d bytes, %v; want the data", len(got), err)
	}
	if st := s.Stats(); st.Blobs != 2 || st.Bytes != d.Size {
		t.Errorf("Stats = %+v, want 2 blobs (with the empty one) of %d bytes", st, d.Size)
	}
	if n := tmpEntries(t, root); len(n) != 0 {
		t.Errorf("temp files left: %v", n)
	}
}

func TestOpenCleansLeftovers(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := open(t, root, 0)
	data, d := blob("keep", 100)
	mustPut(t, s, data)
	_, exe := blob("exe", 10)
	s.Close()

	base := filepath.Join(root, "cas")
	leftovers := []string{
		filepath.Join(base, "tmp", "w-123"),                       // a crashed write
		filepath.Join(base, "sha256", "not-a-shard"),              // junk among the shards
		filepath.Join(base, "sha256", d.Hash[:2], "not-a-digest"), // junk in a shard
		filepath.Join(base, "sha256", wrongShard(d), d.Hash),      // a blob in the wrong shard
		filepath.Join(base, "sha256x", exe.Hash[:2], exe.Hash),    // executable variant of no blob
	}
	for _, p := range leftovers {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = open(t, root, 0)
	for _, p := range leftovers {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("leftover %s still there after Open (stat err %v)", p, err)
		}
	}
	if !s.Contains(ctx, d) {
		t.Errorf("blob %s lost by Open", d)
	}
}

func TestSizeMismatchOnDisk(t *testing.T) {
	data, d := blob("size", 4096)
	tests := []struct {
		name   string
		reopen bool // damage the file while the store is closed
	}{
		{"damaged while open", false},
		{"damaged while closed", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			s := open(t, root, 0)
			mustPut(t, s, data)
			p := s.Path(d)
			if tc.reopen {
				s.Close()
			}
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, 100); err != nil {
				t.Fatal(err)
			}
			if tc.reopen {
				s = open(t, root, 0)
			}
			_, err := s.Get(ctx, d)
			wantCode(t, "Get", err, codes.NotFound)
			if s.Contains(ctx, d) {
				t.Error("Contains = true after a size mismatch, want false")
			}
			if got := s.FindMissing(ctx, []digest.Digest{d}); len(got) != 1 {
				t.Errorf("FindMissing = %v, want [%s]", got, d)
			}
			// A verified write heals the blob.
			mustPut(t, s, data)
			if got, err := s.ReadAll(ctx, d, 1<<20); err != nil || !bytes.Equal(got, data) {
				t.Errorf("ReadAll after re-Put = %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestGetRemovesVanishedBlob(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 0)
	d := mustPut(t, s, []byte("vanish"))
	if err := os.Remove(s.Path(d)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, d)
	wantCode(t, "Get", err, codes.NotFound)
	if s.Contains(ctx, d) {
		t.Error("Contains = true for a vanished blob")
	}
}

func TestFindMissing(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 0)
	a := mustPut(t, s, []byte("a"))
	_, b := blob("b", 1)
	_, c := blob("c", 1)
	wrongSize := digest.Digest{Hash: a.Hash, Size: 2}
	bad := digest.Digest{Hash: "xyz", Size: 1}
	got := s.FindMissing(ctx, []digest.Digest{c, a, b, c, digest.Empty, wrongSize, b, bad})
	want := []digest.Digest{c, b, wrongSize, bad}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FindMissing = %v, want %v", got, want)
	}
	if got := s.FindMissing(ctx, []digest.Digest{a, digest.Empty}); len(got) != 0 {
		t.Errorf("FindMissing(present) = %v, want none", got)
	}
}

func TestReadAllAndBlob(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 0)
	data, d := blob("0123456789", 100)
	mustPut(t, s, data)
	_, err := s.ReadAll(ctx, d, 99)
	wantCode(t, "ReadAll over limit", err, codes.ResourceExhausted)
	_, missing := blob("nope", 10)
	_, err = s.ReadAll(ctx, missing, 100)
	wantCode(t, "ReadAll missing", err, codes.NotFound)

	b, err := s.Get(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Size() != 100 || b.File() == nil {
		t.Errorf("Size() = %d, File() = %v", b.Size(), b.File())
	}
	p := make([]byte, 5)
	if _, err := b.ReadAt(p, 12); err != nil || string(p) != "23456" {
		t.Errorf("ReadAt(12) = %q, %v; want 23456", p, err)
	}
	if _, err := b.Seek(95, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(b)
	if err != nil || string(rest) != "56789" {
		t.Errorf("read after Seek(95) = %q, %v", rest, err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestLRUEvictionOrder(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 300)
	var ds []digest.Digest
	for _, seed := range []string{"a", "b", "c"} {
		data, _ := blob(seed, 100)
		ds = append(ds, mustPut(t, s, data))
	}
	a, b, c := ds[0], ds[1], ds[2]
	s.Contains(ctx, a) // a is now the most recently used; b the least
	dData, d := blob("d", 100)
	mustPut(t, s, dData)
	if got := s.FindMissing(ctx, []digest.Digest{b}); len(got) != 1 {
		t.Fatalf("after adding d: b present, want b evicted first")
	}
	// FindMissing counts as a use too: touch c, so a goes next.
	s.FindMissing(ctx, []digest.Digest{c})
	eData, e := blob("e", 100)
	mustPut(t, s, eData)
	for _, tc := range []struct {
		name string
		d    digest.Digest
		want bool
	}{{"a", a, false}, {"b", b, false}, {"c", c, true}, {"d", d, true}, {"e", e, true}} {
		if got := s.Contains(ctx, tc.d); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.name, got, tc.want)
		}
		if _, err := os.Stat(s.Path(tc.d)); os.IsNotExist(err) == tc.want {
			t.Errorf("file of %s exists = %v, want %v", tc.name, !os.IsNotExist(err), tc.want)
		}
	}
	if st := s.Stats(); st.Evictions != 2 || st.Bytes != 300 || st.MaxBytes != 300 {
		t.Errorf("Stats = %+v, want 2 evictions, 300 bytes, max 300", st)
	}
}

func TestPinnedBlobsNeverEvicted(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 400)
	var ds []digest.Digest
	for _, seed := range []string{"a", "b", "c"} {
		data, _ := blob(seed, 100)
		ds = append(ds, mustPut(t, s, data))
	}
	unpinA, err := s.Pin(ctx, ds[0])
	if err != nil {
		t.Fatal(err)
	}
	blobB, err := s.Get(ctx, ds[1])
	if err != nil {
		t.Fatal(err)
	}
	// An open writer whose blob exists pins it too.
	cData, _ := blob("c", 100)
	wc, err := s.NewWriter(ctx, ds[2])
	if err != nil {
		t.Fatal(err)
	}
	// Fill the store many times over; only unpinned blobs may go.
	for i := range 20 {
		data, _ := blob(fmt.Sprintf("filler%d-", i), 100)
		mustPut(t, s, data)
	}
	for i, d := range ds {
		if !s.Contains(ctx, d) {
			t.Errorf("pinned blob %d evicted", i)
		}
	}
	if _, err := wc.Write(cData); err != nil {
		t.Fatal(err)
	}
	if err := wc.Commit(); err != nil {
		t.Fatal(err)
	}
	unpinA()
	unpinA() // idempotent
	blobB.Close()
	for i := range 20 {
		data, _ := blob(fmt.Sprintf("more%d-", i), 100)
		mustPut(t, s, data)
	}
	for i, d := range ds {
		if s.Contains(ctx, d) {
			t.Errorf("blob %d still present after unpin and 2000 more bytes", i)
		}
	}
	_, err = s.Pin(ctx, ds[0])
	wantCode(t, "Pin(evicted)", err, codes.NotFound)
}

func TestResourceExhaustedWhenAllPinned(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 200)
	var unpins []func()
	for _, seed := range []string{"a", "b"} {
		data, _ := blob(seed, 100)
		unpin, err := s.Pin(ctx, mustPut(t, s, data))
		if err != nil {
			t.Fatal(err)
		}
		unpins = append(unpins, unpin)
	}
	cData, c := blob("c", 100)
	wantCode(t, "Put", s.Put(ctx, c, cData), codes.ResourceExhausted)
	// A Writer reserves as bytes arrive, so it is Write that finds no room;
	// the refused bytes are not taken and the Writer stays usable.
	w, err := s.NewWriter(ctx, c)
	if err != nil {
		t.Fatalf("NewWriter = %v, want success (space is reserved by Write)", err)
	}
	defer w.Close()
	_, err = w.Write(cData)
	wantCode(t, "Write", err, codes.ResourceExhausted)
	if got := w.Written(); got != 0 {
		t.Errorf("Written after a refused Write = %d, want 0", got)
	}
	_, err = s.NewWriter(ctx, digest.Digest{Hash: c.Hash, Size: 201})
	wantCode(t, "NewWriter declaring more than the store holds", err, codes.ResourceExhausted)
	path := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(path, cData, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = s.MoveFile(ctx, path, s.FlushFailures())
	wantCode(t, "MoveFile", err, codes.ResourceExhausted)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("MoveFile that failed consumed its file: %v", err)
	}
	big, bigD := blob("big", 201)
	wantCode(t, "Put of a blob larger than the store", s.Put(ctx, bigD, big), codes.ResourceExhausted)
	if st := s.Stats(); st.Bytes > st.MaxBytes {
		t.Errorf("Stats = %+v: over the limit", st)
	}
	unpins[0]()
	if _, err := w.Write(cData); err != nil {
		t.Fatalf("Write after unpin = %v, want success", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit after unpin = %v", err)
	}
	if !s.Contains(ctx, c) {
		t.Error("blob written after unpin is missing")
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := open(t, root, 0)
	put := mustPut(t, s, []byte("put"))
	wData, wd := blob("writer", 70_000)
	w, err := s.NewWriter(ctx, wd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(wData); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "output")
	if err := os.WriteFile(path, []byte("file"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := s.MoveFile(ctx, path, s.FlushFailures())
	if err != nil {
		t.Fatal(err)
	}
	_, exePath := mustLinkExecutable(t, s, put)
	before := s.Stats()
	s.Close()

	s = open(t, root, 0)
	for _, tc := range []struct {
		d    digest.Digest
		want []byte
	}{{put, []byte("put")}, {wd, wData}, {fd, []byte("file")}} {
		got, err := s.ReadAll(ctx, tc.d, 1<<20)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("ReadAll(%s) after reopen = %d bytes, %v", tc.d, len(got), err)
		}
	}
	if after := s.Stats(); after.Blobs != before.Blobs || after.Bytes != before.Bytes {
		t.Errorf("Stats after reopen = %+v, before %+v", after, before)
	}
	p, unpin, err := s.LinkExecutable(ctx, put)
	if err != nil || p != exePath {
		t.Errorf("LinkExecutable after reopen = %q, %v; want %q", p, err, exePath)
	} else {
		unpin()
	}
}

func mustLinkExecutable(t *testing.T, s *cas.Store, d digest.Digest) (func(), string) {
	t.Helper()
	p, unpin, err := s.LinkExecutable(context.Background(), d)
	if err != nil {
		t.Fatalf("LinkExecutable(%s) = %v", d, err)
	}
	t.Cleanup(unpin)
	return unpin, p
}

// TestLinkExecutables makes variants of several blobs in one call: absent
// blobs, and blobs whose file vanished from disk, come back as "" without
// failing the others, and their reservations are given back.
func TestLinkExecutables(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 1<<20)
	a := mustPut(t, s, []byte("#!/bin/sh\necho a\n"))
	gone := mustPut(t, s, []byte("#!/bin/sh\necho gone\n"))
	b := mustPut(t, s, []byte("#!/bin/sh\necho b\n"))
	absent := digest.OfBytes([]byte("never stored"))
	if err := os.Remove(s.Path(gone)); err != nil {
		t.Fatal(err)
	}
	ds := []digest.Digest{a, absent, gone, b, a}
	paths, unpins, err := s.LinkExecutables(ctx, ds)
	if err != nil {
		t.Fatalf("LinkExecutables = %v", err)
	}
	for i, d := range ds {
		wantMissing := d == absent || d == gone
		if got := paths[i] == ""; got != wantMissing || (unpins[i] == nil) != wantMissing {
			t.Errorf("%d (%s): path %q, unpin set %v; want missing %v", i, d, paths[i], unpins[i] != nil, wantMissing)
			continue
		}
		if wantMissing {
			continue
		}
		fi, err := os.Stat(paths[i])
		if err != nil || fi.Mode().Perm() != 0o555 || fi.Size() != d.Size {
			t.Errorf("%d: variant %v, %v; want a 0555 file of %d bytes", i, fi, err, d.Size)
		}
		unpins[i]()
	}
	// The reservation for the vanished blob's variant was given back, the
	// blob left the index (so that an upload stores it again), and the two
	// variants count like blobs.
	if st, want := s.Stats(), a.Size+b.Size+a.Size+b.Size; st.Reserved != 0 || st.Bytes != want {
		t.Errorf("Stats() = %+v; want Reserved 0 and Bytes %d", st, want)
	}
	if missing := s.FindMissing(ctx, []digest.Digest{gone}); len(missing) != 1 {
		t.Errorf("FindMissing(vanished blob) = %v; want it missing", missing)
	}
}

// TestOneProcessPerRoot: a second store on a root in use is refused with
// FAILED_PRECONDITION, and the root can be opened again once closed.
func TestOneProcessPerRoot(t *testing.T) {
	root := t.TempDir()
	s, err := cas.Open(context.Background(), cas.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cas.Open(context.Background(), cas.Options{Root: root})
	wantCode(t, "second Open of a root in use", err, codes.FailedPrecondition)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := cas.Open(context.Background(), cas.Options{Root: root})
	if err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
	s2.Close()
}

func TestLinkExecutable(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 250)
	data, _ := blob("#!/bin/sh\n", 100)
	d := mustPut(t, s, data)
	unpin, p := mustLinkExecutable(t, s, d)
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o555 {
		t.Fatalf("executable variant mode = %v, %v; want 0555", fi, err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Errorf("executable variant holds %q, want the blob", got)
	}
	if fi, _ := os.Stat(s.Path(d)); fi.Mode().Perm() != 0o444 {
		t.Errorf("blob mode = %v, want 0444", fi.Mode())
	}
	if st := s.Stats(); st.Bytes != 200 {
		t.Errorf("Stats().Bytes = %d, want 200 (blob + variant)", st.Bytes)
	}
	_, _, err = s.LinkExecutable(ctx, digest.OfBytes([]byte("absent")))
	wantCode(t, "LinkExecutable(absent)", err, codes.NotFound)

	// Once unpinned, the blob and its variant are evicted together.
	unpin()
	other, _ := blob("other", 100)
	mustPut(t, s, other)
	other2, _ := blob("other2", 100)
	mustPut(t, s, other2)
	if s.Contains(ctx, d) {
		t.Fatal("blob not evicted")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("executable variant survived eviction: %v", err)
	}
	if st := s.Stats(); st.Bytes != 200 {
		t.Errorf("Stats().Bytes = %d, want 200", st.Bytes)
	}
}

// storeFile is the signature of Store.MoveFile and Store.CopyFile.
type storeFile func(s *cas.Store, ctx context.Context, path string) (digest.Digest, error)

var (
	moveFile storeFile = func(s *cas.Store, ctx context.Context, path string) (digest.Digest, error) {
		return s.MoveFile(ctx, path, s.FlushFailures())
	}
	copyFile storeFile = (*cas.Store).CopyFile
)

func TestMoveFileAndCopyFile(t *testing.T) {
	content := []byte("an action output\n")
	want := digest.OfBytes(content)
	tests := []struct {
		name      string
		store     storeFile
		dir       string // where the file lives; "" = same filesystem as the store
		hardlink  bool   // the file has a second link
		preload   bool   // the store already has the blob
		wantGone  bool   // the file is gone from its path afterwards
		wantMoved bool   // the blob's inode is the file's
	}{
		{name: "move", store: moveFile, wantGone: true, wantMoved: true},
		{name: "copy", store: copyFile},
		{name: "move existing", store: moveFile, preload: true, wantGone: true},
		{name: "copy existing", store: copyFile, preload: true},
		{name: "move hard-linked", store: moveFile, hardlink: true, wantGone: true},
		{name: "move across filesystems", store: moveFile, dir: "/dev/shm", wantGone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			s := open(t, root, 0)
			dir := root
			if tc.dir != "" {
				if !otherFilesystem(tc.dir, root) {
					t.Skipf("%s is not a separate filesystem here", tc.dir)
				}
				var err error
				if dir, err = os.MkdirTemp(tc.dir, "castest"); err != nil {
					t.Skipf("cannot use %s: %v", tc.dir, err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
			}
			if tc.preload {
				mustPut(t, s, content)
			}
			path := filepath.Join(dir, "out.txt")
			if err := os.WriteFile(path, content, 0o755); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Stat(path)
			if tc.hardlink {
				if err := os.Link(path, path+".link"); err != nil {
					t.Fatal(err)
				}
			}
			got, err := tc.store(s, ctx, path)
			if err != nil || got != want {
				t.Fatalf("%s = %v, %v; want %v", tc.name, got, err, want)
			}
			if _, err := os.Stat(path); os.IsNotExist(err) != tc.wantGone {
				t.Errorf("file gone = %v, want %v", os.IsNotExist(err), tc.wantGone)
			}
			blobFi, err := os.Stat(s.Path(want))
			if err != nil {
				t.Fatalf("blob file: %v", err)
			}
			if moved := os.SameFile(before, blobFi); moved != tc.wantMoved {
				t.Errorf("blob is the moved file = %v, want %v", moved, tc.wantMoved)
			}
			if blobFi.Mode().Perm() != 0o444 {
				t.Errorf("blob mode = %v, want 0444", blobFi.Mode())
			}
			if tc.hardlink {
				if fi, err := os.Stat(path + ".link"); err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("other hard link changed: %v, %v", fi, err)
				}
			}
			if b, err := s.ReadAll(ctx, want, 100); err != nil || !bytes.Equal(b, content) {
				t.Errorf("ReadAll = %q, %v", b, err)
			}
			if n := tmpEntries(t, root); len(n) != 0 {
				t.Errorf("temp files left: %v", n)
			}
		})
	}
}

func TestMoveFileAndCopyFileErrors(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := open(t, root, 0)
	for name, store := range map[string]storeFile{"MoveFile": moveFile, "CopyFile": copyFile} {
		_, err := store(s, ctx, filepath.Join(root, "absent"))
		wantCode(t, name+"(absent)", err, codes.NotFound)
		_, err = store(s, ctx, root)
		wantCode(t, name+"(directory)", err, codes.InvalidArgument)
	}
}

func otherFilesystem(a, b string) bool {
	var sa, sb syscall.Stat_t
	return syscall.Stat(a, &sa) == nil && syscall.Stat(b, &sb) == nil && sa.Dev != sb.Dev
}

// wrongShard names a shard directory other than d's.
func wrongShard(d digest.Digest) string {
	if d.Hash[:2] == "00" {
		return "01"
	}
	return "00"
}

func TestMoveFileTakesOwnership(t *testing.T) {
	// A moved output must not stay owned by the sandbox user, or a later
	// action running as that user could chmod a hard-linked input and
	// rewrite the blob.
	if os.Getuid() != 0 {
		t.Skip("needs root to create a file owned by another user")
	}
	ctx := context.Background()
	root := t.TempDir()
	s := open(t, root, 0)
	path := filepath.Join(root, "out")
	if err := os.WriteFile(path, []byte("owned by nobody"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	d, err := s.MoveFile(ctx, path, s.FlushFailures())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path(d))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 0 || st.Gid != 0 || fi.Mode().Perm() != 0o444 {
		t.Errorf("blob owner %d:%d mode %v, want 0:0 0444", st.Uid, st.Gid, fi.Mode())
	}
}

// TestDefaultMaxBytes checks the default limit against statfs: half of the
// free space plus what the store already uses. On a tmpfs of the test's own
// (as root) nothing else writes, so the figures are exact; on the shared
// temp directory other processes change the free space meanwhile, so they
// are only close.
func TestDefaultMaxBytes(t *testing.T) {
	const size = 64 << 20
	dir, slack := tmpfsDir(t, size), int64(0)
	if dir == "" {
		dir, slack = t.TempDir(), 256<<20
	}
	free := func() int64 {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * int64(st.Bsize)
	}
	check := func(what string, got, used int64) {
		t.Helper()
		avail := free()
		if want := (avail + used) / 2; got < want-slack || got > want+slack {
			t.Errorf("%s = %d, want %d (half of %d free and %d used) within %d", what, got, want, avail, used, slack)
		}
	}
	root := filepath.Join(dir, "root")
	notYet := cas.DefaultMaxBytes(filepath.Join(root, "not", "yet", "created"))
	check("DefaultMaxBytes of a root not yet created", notYet, 0)
	if slack == 0 && notYet != size/2 {
		t.Errorf("DefaultMaxBytes on an empty %d-byte tmpfs = %d, want %d", size, notYet, size/2)
	}
	s := open(t, root, 0)
	check("Open's default MaxBytes", s.Stats().MaxBytes, 0)
	const used = 4 << 20
	data, d := blob("used ", used)
	if err := s.Put(context.Background(), d, data); err != nil {
		t.Fatal(err)
	}
	check("DefaultMaxBytes of a store holding a blob", cas.DefaultMaxBytes(root), used)
}

func TestConcurrentChurn(t *testing.T) {
	// Writers, readers and pinners race on a store that evicts constantly;
	// afterwards the accounting and the disk must agree.
	ctx := context.Background()
	root := t.TempDir()
	s := open(t, root, 20_000)
	var all []digest.Digest
	var datas [][]byte
	for i := range 60 {
		data, d := blob(fmt.Sprintf("churn%d-", i), 500+i*10)
		all = append(all, d)
		datas = append(datas, data)
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				j := (g*31 + i*7) % len(all)
				switch i % 4 {
				case 0:
					err := s.Put(ctx, all[j], datas[j])
					if c := status.Code(err); c != codes.OK && c != codes.ResourceExhausted {
						t.Errorf("Put = %v", err)
					}
				case 1:
					if b, err := s.Get(ctx, all[j]); err == nil {
						got, err := io.ReadAll(b)
						if err != nil || !bytes.Equal(got, datas[j]) {
							t.Errorf("read %s: %d bytes, %v", all[j], len(got), err)
						}
						b.Close()
					}
				case 2:
					if unpin, err := s.Pin(ctx, all[j]); err == nil {
						if _, err := os.Stat(s.Path(all[j])); err != nil {
							t.Errorf("pinned blob has no file: %v", err)
						}
						unpin()
					}
				case 3:
					if p, unpin, err := s.LinkExecutable(ctx, all[j]); err == nil {
						if _, err := os.Stat(p); err != nil {
							t.Errorf("executable variant has no file: %v", err)
						}
						unpin()
					}
				}
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	if st.Bytes > st.MaxBytes || st.Evictions == 0 {
		t.Errorf("Stats = %+v, want bytes <= max and some evictions", st)
	}
	var onDisk int64
	for _, d := range all {
		fi, err := os.Stat(s.Path(d))
		if s.Contains(ctx, d) != (err == nil) {
			t.Errorf("Contains(%s) disagrees with the disk (stat err %v)", d, err)
		}
		if err == nil {
			onDisk += fi.Size()
			if fi, err := os.Stat(filepath.Join(root, "cas", "sha256x", d.Hash[:2], d.Hash)); err == nil {
				onDisk += fi.Size()
			}
		}
	}
	if onDisk != st.Bytes {
		t.Errorf("bytes on disk = %d, Stats().Bytes = %d", onDisk, st.Bytes)
	}
	if n := tmpEntries(t, root); len(n) != 0 {
		t.Errorf("temp files left: %v", n)
	}
}

// TestConcurrentPutsShareSyncs: 100 concurrent Puts (a BatchUpdateBlobs)
// share filesystem flushes instead of paying two fsyncs each. Group commit
// is only used where the filesystem orders data before sizes, so the store
// goes on a journaled ext4 (groupCommitDir): on a host whose temp directory
// gets strict fsync (ext4 without a journal), each Put's own fdatasync
// spaces the Puts out until hardly any share a flush.
func TestConcurrentPutsShareSyncs(t *testing.T) {
	ctx := context.Background()
	s := open(t, groupCommitDir(t), 0)
	if got := s.Stats().Syncs; got != 1 {
		t.Errorf("Stats.Syncs after Open = %d, want 1 (Open flushes what it found)", got)
	}
	before := s.Stats().Syncs
	const n = 100
	start := make(chan struct{})
	var wg sync.WaitGroup
	var ds []digest.Digest
	for i := range n {
		data, d := blob(fmt.Sprintf("concurrent blob %d ", i), 1024)
		ds = append(ds, d)
		wg.Go(func() {
			<-start
			if err := s.Put(ctx, d, data); err != nil {
				t.Errorf("Put(%s) = %v", d, err)
			}
		})
	}
	close(start)
	wg.Wait()
	// How many flushes they share depends on how the Puts overlap (on two
	// busy cores, a flush of little data takes about as long as a few
	// Puts); TestConcurrentWritesShareOneFlush pins the sharing down. Here
	// it is enough that the real syncfs is shared at all.
	syncs := s.Stats().Syncs - before
	if syncs >= n {
		t.Errorf("%d concurrent Puts ran %d flushes, want fewer than one each", n, syncs)
	}
	if missing := s.FindMissing(ctx, ds); len(missing) != 0 {
		t.Errorf("FindMissing after the Puts = %v, want none", missing)
	}
	t.Logf("%d concurrent Puts, %d flushes", n, syncs)
}

// TestStrictFsync runs every write path with StrictFsync set.
func TestStrictFsync(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := cas.Open(ctx, cas.Options{Root: root, StrictFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := mustPut(t, s, []byte("strict put"))
	data, d := blob("strict writer ", 100_000)
	w, err := s.NewWriter(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit = %v", err)
	}
	w.Close()
	var files []digest.Digest
	for name, store := range map[string]storeFile{"MoveFile": moveFile, "CopyFile": copyFile} {
		p := filepath.Join(root, "out-"+name)
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
		fd, err := store(s, ctx, p)
		if err != nil {
			t.Fatalf("%s = %v", name, err)
		}
		files = append(files, fd)
	}
	_, unpin, err := s.LinkExecutable(ctx, put)
	if err != nil {
		t.Fatalf("LinkExecutable = %v", err)
	}
	unpin()
	for _, d := range append(files, put, d) {
		if _, err := s.ReadAll(ctx, d, 1<<20); err != nil {
			t.Errorf("ReadAll(%s) = %v", d, err)
		}
	}
}

// TestCommitAfterClose: a Writer still open at Close commits, flushing
// through a descriptor of its own.
func TestCommitAfterClose(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 0)
	data, d := blob("after close ", 1000)
	w, err := s.NewWriter(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	syncs := s.Stats().Syncs
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit after Close = %v, want nil", err)
	}
	if got := s.Stats().Syncs; got != syncs+1 {
		t.Errorf("Stats.Syncs = %d, want %d", got, syncs+1)
	}
	if !s.Contains(ctx, d) {
		t.Errorf("blob committed after Close is missing")
	}
}

// TestWriterReservesAsBytesArrive: an upload declaring a large blob evicts
// nothing until its bytes arrive, then only as much as they (plus one
// reservation chunk) need, and Close gives its reservation back. Before,
// NewWriter reserved the declared size at once, so one upload that sent
// nothing could empty the store.
func TestWriterReservesAsBytesArrive(t *testing.T) {
	ctx := context.Background()
	const (
		maxBytes = 1 << 20
		blobSize = 100 << 10
		chunk    = maxBytes / 16 // the reservation chunk of a store this small
		piece    = 16 << 10      // what Bazel sends per WriteRequest
	)
	root := t.TempDir()
	s := open(t, root, maxBytes)
	var ds []digest.Digest
	for i := range 10 {
		data, _ := blob(fmt.Sprintf("stored%d-", i), blobSize)
		ds = append(ds, mustPut(t, s, data))
	}
	before := s.Stats()
	free := before.MaxBytes - before.Bytes

	// Several hostile or abandoned uploads, each declaring the whole store.
	var ws []*cas.Writer
	for i := range 5 {
		_, d := blob(fmt.Sprintf("declared%d-", i), maxBytes)
		w, err := s.NewWriter(ctx, d)
		if err != nil {
			t.Fatalf("NewWriter(%s) = %v", d, err)
		}
		defer w.Close()
		ws = append(ws, w)
	}
	if got := s.Stats(); got != before {
		t.Fatalf("Stats after NewWriter with no data = %+v, want unchanged %+v", got, before)
	}
	for i, d := range ds {
		if !s.Contains(ctx, d) {
			t.Errorf("blob %d evicted by a NewWriter that sent no data", i)
		}
	}
	// Sending a byte each and stalling reserves about that much, not a
	// chunk apiece.
	for _, w := range ws {
		if _, err := w.Write([]byte("d")); err != nil {
			t.Fatalf("Write(1 byte) = %v", err)
		}
	}
	if st := s.Stats(); st.Reserved > 2*int64(len(ws)) || st.Evictions != 0 || st.Bytes != before.Bytes {
		t.Fatalf("after %d writers sent a byte each: Stats = %+v, want at most %d reserved and nothing evicted",
			len(ws), st, 2*len(ws))
	}
	for _, w := range ws {
		w.Close()
	}
	if st := s.Stats(); st.Reserved != 0 {
		t.Fatalf("after closing the stalled writers: Reserved = %d, want 0", st.Reserved)
	}

	// Bytes arriving on one of them evict gradually, least recently used
	// first (the loop above touched ds in order, so ds[0] goes first).
	big, bigD := blob("big-", maxBytes)
	w, err := s.NewWriter(ctx, bigD)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for written := int64(0); written < 512<<10; {
		if _, err := w.Write(big[written : written+piece]); err != nil {
			t.Fatalf("Write at %d = %v", written, err)
		}
		written += piece
		st := s.Stats()
		if st.Bytes+st.Reserved > st.MaxBytes {
			t.Fatalf("after %d bytes: Stats = %+v, stored+reserved over the limit", written, st)
		}
		if ahead := st.Reserved - written; ahead < 0 || ahead > min(chunk, written) {
			t.Fatalf("after %d bytes: Reserved = %d, want %d plus at most min(chunk %d, %d)", written, st.Reserved, written, chunk, written)
		}
		// Room was made for what arrived, and for no more than that plus
		// one chunk: one blob fewer would not have been enough.
		room := free + st.Evictions*blobSize
		if room < written || room-blobSize >= written+chunk {
			t.Fatalf("after %d bytes: %d evictions made %d bytes of room, want at least %d and under %d plus one blob",
				written, st.Evictions, room, written, written+chunk)
		}
		if st.Evictions > 0 && room-blobSize >= 2*written {
			t.Fatalf("after %d bytes: %d evictions made %d bytes of room, want under twice the bytes sent plus one blob",
				written, st.Evictions, room)
		}
		for i, d := range ds {
			if want := int64(i) >= st.Evictions; s.Contains(ctx, d) != want {
				t.Fatalf("after %d bytes and %d evictions: Contains(blob %d) = %v, want %v (least recently used first)",
					written, st.Evictions, i, !want, want)
			}
		}
	}
	mid := s.Stats()
	if mid.Evictions == 0 || mid.Evictions >= int64(len(ds)) {
		t.Fatalf("after half the upload: %d evictions, want some but not all %d blobs", mid.Evictions, len(ds))
	}

	// Closing the abandoned upload returns its reservation and evicts
	// nothing more; the space is there for the next write.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Reserved != 0 || st.Bytes != mid.Bytes || st.Evictions != mid.Evictions {
		t.Fatalf("after Close: Stats = %+v, want Reserved 0 and Bytes, Evictions as before Close (%+v)", st, mid)
	}
	fill, _ := blob("fill-", int(st.MaxBytes-st.Bytes))
	mustPut(t, s, fill)
	if got := s.Stats().Evictions; got != mid.Evictions {
		t.Errorf("Put into the released space evicted %d blobs, want none", got-mid.Evictions)
	}
	if n := tmpEntries(t, root); len(n) != 0 {
		t.Errorf("temp files left after Close: %v", n)
	}
}

// TestWriterFillsStoreGradually: an upload of the store's whole size
// succeeds by evicting everything unpinned, chunk by chunk.
func TestWriterFillsStoreGradually(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), 1<<20)
	for i := range 10 {
		data, _ := blob(fmt.Sprintf("stored%d-", i), 100<<10)
		mustPut(t, s, data)
	}
	big, d := blob("big-", 1<<20)
	w, err := s.NewWriter(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var evictions []int64
	for off := 0; off < len(big); off += 16 << 10 {
		if _, err := w.Write(big[off : off+16<<10]); err != nil {
			t.Fatalf("Write at %d = %v", off, err)
		}
		evictions = append(evictions, s.Stats().Evictions)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit = %v", err)
	}
	st := s.Stats()
	if st.Bytes != 1<<20 || st.Reserved != 0 || st.Evictions != 10 || st.Blobs != 2 {
		t.Errorf("Stats = %+v, want only the big blob (and the empty one): 1 MiB, 10 evictions, nothing reserved", st)
	}
	// Gradual: the count grows over many Writes, not at the first.
	distinct := map[int64]bool{}
	for _, e := range evictions {
		distinct[e] = true
	}
	if evictions[0] >= 10 || len(distinct) < 5 {
		t.Errorf("evictions after each Write = %v, want them spread over the upload", evictions)
	}
}
