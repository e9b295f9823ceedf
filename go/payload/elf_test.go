package payload_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/payload"
)

func TestELFRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		build  func(t *testing.T) string
		output string // what the binary prints; "" when it cannot run here
		c      payload.Compression
	}{
		{"go amd64", func(t *testing.T) string { return goBuild(t, "amd64") }, "hello from go\n", payload.Zstd},
		{"go arm64", func(t *testing.T) string { return goBuild(t, "arm64") }, "hello from go\n", payload.None},
		{"gcc", gccBuild, "hello from c\n", payload.Zstd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exe := tt.build(t)
			orig, err := os.ReadFile(exe)
			if err != nil {
				t.Fatal(err)
			}
			cs := testContents()
			out := writeFile(t, "with-payloads", 0o755, embed(exe, "elf", writeSources(t, cs), tt.c))
			checkPayloads(t, out, payload.ELF, cs)

			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			checkSegmentsUnchanged(t, orig, got)
			if f, err := elf.Open(out); err != nil {
				t.Errorf("debug/elf: %v", err)
			} else {
				for _, c := range cs {
					if s := f.Section(".actiond." + c.name); s == nil || s.Flags&elf.SHF_ALLOC != 0 {
						t.Errorf("section .actiond.%s: %+v, want a non-alloc section", c.name, s)
					}
				}
				f.Close()
			}
			if readelf, err := exec.LookPath("readelf"); err == nil {
				b, err := exec.Command(readelf, "-S", "-W", out).CombinedOutput()
				if err != nil {
					t.Fatalf("readelf -S: %v\n%s", err, b)
				}
				for _, c := range cs {
					if !strings.Contains(string(b), ".actiond."+c.name+" ") {
						t.Errorf("readelf -S does not list .actiond.%s:\n%s", c.name, b)
					}
				}
				if strings.Contains(string(b), "Warning") {
					t.Errorf("readelf -S warns:\n%s", b)
				}
			} else {
				t.Log("readelf not installed: not checked with it")
			}
			arch := map[string]string{"go amd64": "amd64", "go arm64": "arm64", "gcc": runtime.GOARCH}[tt.name]
			if runtime.GOOS == "linux" && arch == runtime.GOARCH {
				if got := runOutput(t, out); got != tt.output {
					t.Errorf("binary with payloads prints %q, want %q", got, tt.output)
				}
			}

			again := writeFile(t, "again", 0o755, embed(exe, "elf", writeSources(t, cs), tt.c))
			if b, _ := os.ReadFile(again); !bytes.Equal(b, got) {
				t.Errorf("second build from the same inputs differs")
			}
		})
	}
}

// checkSegmentsUnchanged checks that every byte the loader maps, and all
// the file but the ELF header's e_shoff and e_shnum, is as it was.
func checkSegmentsUnchanged(t *testing.T, orig, got []byte) {
	t.Helper()
	if len(got) < len(orig) {
		t.Fatalf("output is %d bytes, shorter than the %d of the input", len(got), len(orig))
	}
	want := bytes.Clone(orig)
	copy(want[0x28:0x30], got[0x28:0x30]) // e_shoff
	copy(want[0x3c:0x3e], got[0x3c:0x3e]) // e_shnum
	if !bytes.Equal(got[:len(orig)], want) {
		t.Errorf("bytes of the input other than e_shoff and e_shnum changed")
	}
	f, err := elf.NewFile(bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Off <= 0x28 && p.Off+p.Filesz > 0x3e {
			t.Logf("the ELF header lies in a loaded segment; its section fields are not used at run time")
		}
	}
}

func TestWriteELFRefuses(t *testing.T) {
	exe := goBuild(t, "amd64")
	orig, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	srcs := writeSources(t, []content{{payload.Kernel, []byte("k")}})
	patched := func(at int, b ...byte) []byte {
		d := bytes.Clone(orig)
		copy(d[at:], b)
		return d
	}
	withSections := writeFile(t, "sections", 0o755, embed(exe, "elf", srcs, payload.None))
	withTrailer := writeFile(t, "trailer", 0o755, embed(exe, "trailer", srcs, payload.None))
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		srcs []payload.Source
		want string
		is   error
	}{
		{"32-bit", patched(4, byte(elf.ELFCLASS32)), srcs, "only 64-bit little-endian", nil},
		{"big-endian", patched(5, byte(elf.ELFDATA2MSB)), srcs, "only 64-bit little-endian", nil},
		{"other machine", patched(0x12, byte(elf.EM_RISCV)), srcs, "only x86-64 and AArch64", nil},
		{"not ELF", []byte("#!/bin/sh\necho hi\n"), srcs, "not an ELF file", nil},
		{"no section headers", patched(0x28, 0, 0, 0, 0, 0, 0, 0, 0), srcs, "no section header table", nil},
		{"section headers past the end", patched(0x28, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0), srcs, "outside the file", nil},
		{"sections already", read(withSections), srcs, "already carries payloads", payload.ErrHasPayloads},
		{"trailer already", read(withTrailer), srcs, "already carries payloads", payload.ErrHasPayloads},
		{"bad name", orig, []payload.Source{{Name: "Kernel", Path: srcs[0].Path}}, "only a-z, 0-9 and _", nil},
		{"name too long", orig, []payload.Source{{Name: "a_very_long_name", Path: srcs[0].Path}}, "1 to 14 bytes", nil},
		{"duplicate", orig, append(srcs, srcs...), "given twice", nil},
		{"none", orig, nil, "no payloads given", nil},
		{"missing file", orig, []payload.Source{{Name: "kernel", Path: "/nonexistent/kernel"}}, "no such file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := payload.WriteELF(&bufferAt{&out}, bytes.NewReader(tt.in), int64(len(tt.in)), tt.srcs, payload.None)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("WriteELF: %v, want an error containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("WriteELF: %v, want it to match %v", err, tt.is)
			}
		})
	}
}

func TestOpenCorruptELF(t *testing.T) {
	exe := goBuild(t, "amd64")
	srcs := writeSources(t, []content{{payload.Kernel, bytes.Repeat([]byte("kernel"), 1000)}})
	out := writeFile(t, "with-payloads", 0o755, embed(exe, "elf", srcs, payload.None))
	good, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	sec := f.Section(".actiond.kernel")
	shoff := binary.LittleEndian.Uint64(good[0x28:])
	shdr := int(shoff) + (len(f.Sections)-1)*64 // the payload section is last
	mod := func(edit func(b []byte) []byte) []byte { return edit(bytes.Clone(good)) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "reading ELF"},
		{"section past the end", mod(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[shdr+32:], uint64(len(b)))
			return b
		}), "outside the file"},
		{"section size overflows", mod(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[shdr+32:], ^uint64(0)-8)
			return b
		}), "reading ELF"},
		{"bad header magic", mod(func(b []byte) []byte { b[sec.Offset] = 'X'; return b }), "bad header magic"},
		{"future version", mod(func(b []byte) []byte { b[sec.Offset+8] = 9; return b }), "header version 9"},
		{"stored size past the section", mod(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[sec.Offset+32:], sec.Size)
			binary.LittleEndian.PutUint64(b[sec.Offset+40:], sec.Size)
			return b
		}), "stored bytes"},
		{"name differs from the section", mod(func(b []byte) []byte { copy(b[sec.Offset+16:], "initramfs"); return b }), `holds payload "initramfs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := payload.Parse(bytes.NewReader(tt.data), int64(len(tt.data)), "exe")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: %v, want an error containing %q", err, tt.want)
			}
			if !errors.Is(err, payload.ErrCorrupt) && !errors.Is(err, payload.ErrUnsupportedVersion) {
				t.Errorf("Parse: %v does not match ErrCorrupt or ErrUnsupportedVersion", err)
			}
		})
	}
}

// bufferAt is an in-memory io.WriterAt.
type bufferAt struct{ b *bytes.Buffer }

func (w *bufferAt) WriteAt(p []byte, off int64) (int, error) {
	buf := w.b.Bytes()
	if end := int(off) + len(p); end > len(buf) {
		w.b.Write(make([]byte, end-len(buf)))
		buf = w.b.Bytes()
	}
	return copy(buf[off:], p), nil
}
