package payload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actiond/actiond/go/payload"
)

// The test binary doubles as an extracting process for
// TestExtractConcurrentProcesses.
func TestMain(m *testing.M) {
	if exe := os.Getenv("PAYLOAD_TEST_EXTRACT_EXE"); exe != "" {
		os.Exit(extractProcess(exe, os.Getenv("PAYLOAD_TEST_EXTRACT_ROOT")))
	}
	os.Exit(m.Run())
}

func extractProcess(exe, root string) int {
	s, err := payload.Open(exe)
	if err == nil {
		for _, p := range s.Payloads() {
			if _, err = p.Extract(context.Background(), root, nil); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// extractFixture returns an executable with a trailer holding testContents,
// compressed with c, and those contents.
func extractFixture(t *testing.T, c payload.Compression) (*payload.Set, []content) {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "exe")
	if err := os.WriteFile(exe, []byte("exe"), 0o755); err != nil {
		t.Fatal(err)
	}
	cs := testContents()
	out := writeFile(t, "with-trailer", 0o755, embed(exe, "trailer", writeSources(t, cs), c))
	s, err := payload.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, cs
}

func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes that differ from the %d of the payload", path, len(got), len(want))
	}
}

// names returns the names of the files in dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}

func TestExtract(t *testing.T) {
	ctx := context.Background()
	for _, c := range []payload.Compression{payload.None, payload.Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			s, cs := extractFixture(t, c)
			p, want := s.Lookup(payload.Kernel), cs[0].data
			if c == payload.Zstd && p.StoredSize() >= p.Size()/10 {
				t.Errorf("zstd payload stores %d bytes of %d", p.StoredSize(), p.Size())
			}
			root := t.TempDir()
			var calls []int64
			res, err := p.Extract(ctx, root, func(done, total int64) {
				if total != p.Size() || done > total || len(calls) > 0 && done <= calls[len(calls)-1] {
					t.Errorf("progress(%d, %d) after %v", done, total, calls)
				}
				calls = append(calls, done)
			})
			if err != nil || !res.Extracted || res.Replaced {
				t.Fatalf("first Extract: %+v, %v", res, err)
			}
			if len(calls) == 0 || calls[len(calls)-1] != p.Size() {
				t.Errorf("progress calls %v do not end at %d", calls, p.Size())
			}
			if wantPath := filepath.Join(root, "embedded", "kernel-"+p.SHA256()); res.Path != wantPath {
				t.Errorf("Path = %s, want %s", res.Path, wantPath)
			}
			checkFile(t, res.Path, want)
			fi1, err := os.Stat(res.Path)
			if err != nil {
				t.Fatal(err)
			}

			res, err = p.Extract(ctx, root, func(int64, int64) { t.Error("progress called with nothing to extract") })
			if err != nil || res.Extracted {
				t.Fatalf("second Extract: %+v, %v; want nothing extracted", res, err)
			}
			if fi2, err := os.Stat(res.Path); err != nil || !os.SameFile(fi1, fi2) || !fi2.ModTime().Equal(fi1.ModTime()) {
				t.Errorf("second Extract touched the file: %v", err)
			}

			// An altered file of the same size is found by its hash, one of
			// another size by its size; both are replaced.
			for _, alter := range []func([]byte) []byte{
				func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
				func(b []byte) []byte { return b[:len(b)-1] },
			} {
				if err := os.Chmod(res.Path, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(res.Path, alter(bytes.Clone(want)), 0o644); err != nil {
					t.Fatal(err)
				}
				res, err = p.Extract(ctx, root, nil)
				if err != nil || !res.Extracted || !res.Replaced {
					t.Fatalf("Extract over an altered file: %+v, %v; want it replaced", res, err)
				}
				checkFile(t, res.Path, want)
			}
			if got := names(t, filepath.Dir(res.Path)); len(got) != 1 {
				t.Errorf("embedded holds %v, want only the payload", got)
			}
		})
	}
}

func TestExtractLeftoverTemps(t *testing.T) {
	s, cs := extractFixture(t, payload.Zstd)
	p := s.Lookup(payload.Kernel)
	root := t.TempDir()
	dir := filepath.Join(root, "embedded")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A crash left a partial file; another is an hour and more old.
	recent := filepath.Join(dir, ".tmp-kernel-123456")
	old := filepath.Join(dir, ".tmp-kernel-654321")
	for _, f := range []string{recent, old} {
		if err := os.WriteFile(f, cs[0].data[:1000], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	res, err := p.Extract(context.Background(), root, nil)
	if err != nil || !res.Extracted {
		t.Fatalf("Extract: %+v, %v", res, err)
	}
	checkFile(t, res.Path, cs[0].data)
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent temporary file (maybe another extraction's) was removed: %v", err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a temporary file two hours old was kept: %v", err)
	}
}

func TestExtractCancelled(t *testing.T) {
	s, _ := extractFixture(t, payload.None)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := t.TempDir()
	if _, err := s.Lookup(payload.Initramfs).Extract(ctx, root, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Extract: %v, want context.Canceled", err)
	}
	if got := names(t, filepath.Join(root, "embedded")); len(got) != 0 {
		t.Errorf("embedded holds %v after a cancelled extraction", got)
	}
}

func TestExtractConcurrentGoroutines(t *testing.T) {
	s, cs := extractFixture(t, payload.Zstd)
	root := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	paths := make([]string, len(errs))
	for i := range errs {
		wg.Go(func() {
			var res payload.Result
			res, errs[i] = s.Lookup(payload.Kernel).Extract(context.Background(), root, nil)
			paths[i] = res.Path
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("extraction %d: %v", i, err)
		}
	}
	checkFile(t, paths[0], cs[0].data)
	if got := names(t, filepath.Dir(paths[0])); len(got) != 1 {
		t.Errorf("embedded holds %v, want only the payload", got)
	}
}

func TestExtractConcurrentProcesses(t *testing.T) {
	s, cs := extractFixture(t, payload.Zstd)
	root := t.TempDir()
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PAYLOAD_TEST_EXTRACT_EXE="+s.Executable(), "PAYLOAD_TEST_EXTRACT_ROOT="+root)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	got := names(t, filepath.Join(root, "embedded"))
	if len(got) != len(cs) {
		t.Errorf("embedded holds %v, want one file per payload", got)
	}
	for _, c := range cs {
		p := s.Lookup(c.name)
		checkFile(t, filepath.Join(root, "embedded", p.FileName()), c.data)
		if strings.HasPrefix(p.FileName(), ".") {
			t.Errorf("final name %s looks like a temporary file", p.FileName())
		}
	}
}

// BenchmarkExtract extracts a 100 MiB payload of text-like content
// (compressible about threefold), stored as it is and with zstd.
func BenchmarkExtract(b *testing.B) {
	const size = 100 << 20
	data := make([]byte, 0, size)
	words := []string{"kernel ", "initramfs ", "runtime ", "squashfs ", "action ", "digest ", "\n"}
	x := uint32(1)
	for len(data) < size {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data = append(data, words[x%uint32(len(words))]...)
		data = append(data, byte('a'+x>>8%26))
	}
	data = data[:size]
	dir := b.TempDir()
	src := filepath.Join(dir, "kernel")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	exe := filepath.Join(dir, "exe")
	if err := os.WriteFile(exe, []byte("exe"), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, c := range []payload.Compression{payload.None, payload.Zstd} {
		b.Run(c.String(), func(b *testing.B) {
			out := filepath.Join(dir, "exe-"+c.String())
			f, err := os.Create(out)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := payload.WriteTrailer(f, bytes.NewReader([]byte("exe")), 3, []payload.Source{{Name: payload.Kernel, Path: src}}, c); err != nil {
				b.Fatal(err)
			}
			f.Close()
			s, err := payload.Open(out)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			p := s.Lookup(payload.Kernel)
			b.SetBytes(size)
			for b.Loop() {
				root := b.TempDir()
				if res, err := p.Extract(context.Background(), root, nil); err != nil || !res.Extracted {
					b.Fatal(res, err)
				}
				os.RemoveAll(root)
			}
			b.ReportMetric(float64(p.StoredSize())/float64(p.Size()), "stored/size")
		})
	}
	// A later start finds the file and hashes it again.
	b.Run("present", func(b *testing.B) {
		s, err := payload.Open(filepath.Join(dir, "exe-none"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		p, root := s.Lookup(payload.Kernel), b.TempDir()
		if _, err := p.Extract(context.Background(), root, nil); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			if res, err := p.Extract(context.Background(), root, nil); err != nil || res.Extracted {
				b.Fatal(res, err)
			}
		}
	})
}
