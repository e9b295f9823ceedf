package payload_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/payload"
)

func TestTrailerRoundTrip(t *testing.T) {
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello from sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		build  func(t *testing.T) string
		output string
		c      payload.Compression
	}{
		{"go zstd", func(t *testing.T) string { return goBuild(t, "amd64") }, "hello from go\n", payload.Zstd},
		{"go none", func(t *testing.T) string { return goBuild(t, "amd64") }, "hello from go\n", payload.None},
		{"not an executable format", func(*testing.T) string { return script }, "", payload.Zstd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exe := tt.build(t)
			cs := testContents()
			out := writeFile(t, "with-trailer", 0o755, embed(exe, "trailer", writeSources(t, cs), tt.c))
			checkPayloads(t, out, payload.Trailer, cs)
			if tt.output != "" && runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
				if got := runOutput(t, out); got != tt.output {
					t.Errorf("binary with a trailer prints %q, want %q", got, tt.output)
				}
			}
			again := writeFile(t, "again", 0o755, embed(exe, "trailer", writeSources(t, cs), tt.c))
			a, _ := os.ReadFile(out)
			b, _ := os.ReadFile(again)
			if !bytes.Equal(a, b) {
				t.Errorf("second build from the same inputs differs")
			}
		})
	}
}

// trailerFile returns a small file with a trailer holding a kernel and
// an initramfs, and the offsets of its manifest and footer.
func trailerFile(t *testing.T, c payload.Compression) (data []byte, moff, foff int) {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "exe")
	if err := os.WriteFile(exe, []byte("not really an executable\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cs := []content{{payload.Kernel, bytes.Repeat([]byte("kernel "), 500)}, {payload.Initramfs, []byte("initramfs")}}
	out := writeFile(t, "with-trailer", 0o755, embed(exe, "trailer", writeSources(t, cs), c))
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	foff = len(data) - 32
	return data, int(binary.LittleEndian.Uint64(data[foff:])), foff
}

func TestTrailerCorrupt(t *testing.T) {
	good, moff, foff := trailerFile(t, payload.None)
	le := binary.LittleEndian
	entry := func(i int) int { return moff + 16 + 32*i } // entries sorted by name: initramfs, kernel
	mod := func(edit func(b []byte)) []byte {
		b := bytes.Clone(good)
		edit(b)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want string
		is   error // nil: parses with no payloads
	}{
		{"truncated", good[:len(good)-1], "", nil},
		{"truncated to the manifest", good[:foff], "", nil},
		{"empty file", nil, "", nil},
		{"manifest past the end", mod(func(b []byte) { le.PutUint64(b[foff:], uint64(len(b))) }), "outside the file", payload.ErrCorrupt},
		{"manifest length overflows", mod(func(b []byte) { le.PutUint64(b[foff+8:], ^uint64(0)) }), "outside the file", payload.ErrCorrupt},
		{"manifest not before the footer", mod(func(b []byte) { le.PutUint64(b[foff:], uint64(moff-1)) }), "the footer starts at", payload.ErrCorrupt},
		{"manifest length", mod(func(b []byte) {
			le.PutUint64(b[foff:], uint64(moff+1))
			le.PutUint64(b[foff+8:], uint64(foff-moff-1))
		}), "manifest length", payload.ErrCorrupt},
		{"footer version", mod(func(b []byte) { b[foff+16] = 2 }), "trailer version 2", payload.ErrUnsupportedVersion},
		{"footer reserved", mod(func(b []byte) { b[foff+20] = 1 }), "reserved footer field", payload.ErrCorrupt},
		{"manifest magic", mod(func(b []byte) { b[moff] = 'X' }), "manifest magic", payload.ErrCorrupt},
		{"manifest version", mod(func(b []byte) { b[moff+8] = 7 }), "manifest version 7", payload.ErrUnsupportedVersion},
		{"entry count", mod(func(b []byte) { b[moff+12] = 3 }), "claims 3 entries", payload.ErrCorrupt},
		{"entry past the manifest", mod(func(b []byte) { le.PutUint64(b[entry(1)+16:], uint64(moff-10)) }), "outside the file", payload.ErrCorrupt},
		{"entry length overflows", mod(func(b []byte) { le.PutUint64(b[entry(1)+24:], ^uint64(0)-4) }), "outside the file", payload.ErrCorrupt},
		{"entries overlap", mod(func(b []byte) {
			copy(b[entry(1)+16:entry(1)+24], b[entry(0)+16:entry(0)+24])
		}), "overlap", payload.ErrCorrupt},
		{"entry name", mod(func(b []byte) { b[entry(0)] = 'I' }), "only a-z", payload.ErrCorrupt},
		{"entry name not padded with NULs", mod(func(b []byte) { b[entry(0)+15] = 'x' }), "bytes after its NUL", payload.ErrCorrupt},
		{"entry and blob names differ", mod(func(b []byte) { copy(b[entry(1):entry(1)+16], "runtimes\x00\x00\x00\x00\x00\x00\x00\x00") }), `holds payload "kernel"`, payload.ErrCorrupt},
		{"blob shorter than its header", mod(func(b []byte) { le.PutUint64(b[entry(0)+24:], 79) }), "shorter than a payload header", payload.ErrCorrupt},
		{"blob stored size", mod(func(b []byte) {
			off := le.Uint64(b[entry(0)+16:])
			le.PutUint64(b[off+32:], 8)
			le.PutUint64(b[off+40:], 8)
		}), "8 stored bytes", payload.ErrCorrupt},
		{"blob compression", mod(func(b []byte) { b[le.Uint64(b[entry(0)+16:])+10] = 9 }), "unknown compression 9", payload.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := payload.Parse(bytes.NewReader(tt.data), int64(len(tt.data)), "/x/linux_actiond")
			if tt.is == nil {
				if err != nil || s.Format() != payload.NoFormat {
					t.Fatalf("Parse: %v, %v; want no payloads", s, err)
				}
				if _, err := s.Require(payload.Kernel, "--kernel"); err == nil || err.Error() != "no kernel is embedded in /x/linux_actiond: pass --kernel" {
					t.Errorf("Require: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.is) {
				t.Fatalf("Parse: %v, want an error containing %q matching %v", err, tt.want, tt.is)
			}
		})
	}
}

func TestHashMismatch(t *testing.T) {
	for _, c := range []payload.Compression{payload.None, payload.Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			data, moff, _ := trailerFile(t, c)
			// The kernel blob is the second entry; flip the last byte of
			// its data, just before the manifest.
			data[moff-1] ^= 0x40
			exe := filepath.Join(t.TempDir(), "linux_actiond")
			if err := os.WriteFile(exe, data, 0o755); err != nil {
				t.Fatal(err)
			}
			s, err := payload.Open(exe)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			p, err := s.Require(payload.Kernel, "--kernel")
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			_, err = p.Extract(context.Background(), root, nil)
			if c == payload.None {
				want := regexp.MustCompile(`^payload kernel in ` + regexp.QuoteMeta(exe) + `: sha256 mismatch: want [0-9a-f]{64}, got [0-9a-f]{64}$`)
				if err == nil || !want.MatchString(err.Error()) || !errors.Is(err, payload.ErrHashMismatch) {
					t.Fatalf("Extract: %v, want an error matching %s", err, want)
				}
			} else if !errors.Is(err, payload.ErrHashMismatch) && !errors.Is(err, payload.ErrCorrupt) {
				// A flipped byte in a zstd frame breaks its checksum
				// before the content's hash is compared.
				t.Fatalf("Extract: %v, want ErrCorrupt or ErrHashMismatch", err)
			}
			if entries, _ := os.ReadDir(filepath.Join(root, "embedded")); len(entries) != 0 {
				t.Errorf("embedded holds %v after a failed extraction", entries)
			}
			if err := p.Verify(context.Background()); err == nil {
				t.Errorf("Verify succeeded")
			}
		})
	}
}
