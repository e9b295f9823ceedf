package payload_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/payload"
)

// machoSection is one section of a test Mach-O file.
type machoSection struct {
	name  string
	data  []byte
	flags uint32
}

// makeMachO returns a 64-bit arm64 Mach-O executable with one
// LC_SEGMENT_64 load command for segment seg holding sections. We cannot
// link darwin binaries here; debug/macho reads this the way it reads ld64's
// output of -sectcreate.
func makeMachO(seg string, sections []machoSection) []byte {
	le := binary.LittleEndian
	const hdrSize, segSize, sectSize = 32, 72, 80
	cmdSize := segSize + sectSize*len(sections)
	dataOff := hdrSize + cmdSize
	var data []byte
	for _, s := range sections {
		data = append(data, s.data...)
	}
	b := make([]byte, dataOff, dataOff+len(data))
	le.PutUint32(b[0:], 0xfeedfacf) // MH_MAGIC_64
	le.PutUint32(b[4:], 0x0100000c) // CPU_TYPE_ARM64
	le.PutUint32(b[12:], 2)         // MH_EXECUTE
	le.PutUint32(b[16:], 1)         // ncmds
	le.PutUint32(b[20:], uint32(cmdSize))
	c := b[hdrSize:]
	le.PutUint32(c[0:], 0x19) // LC_SEGMENT_64
	le.PutUint32(c[4:], uint32(cmdSize))
	copy(c[8:24], seg)
	le.PutUint64(c[24:], 0x100000000)       // vmaddr
	le.PutUint64(c[32:], uint64(len(data))) // vmsize
	le.PutUint64(c[40:], uint64(dataOff))   // fileoff
	le.PutUint64(c[48:], uint64(len(data))) // filesize
	le.PutUint32(c[56:], 1)                 // maxprot: read
	le.PutUint32(c[60:], 1)                 // initprot
	le.PutUint32(c[64:], uint32(len(sections)))
	off := dataOff
	for i, s := range sections {
		h := c[segSize+i*sectSize:]
		copy(h[0:16], s.name)
		copy(h[16:32], seg)
		le.PutUint64(h[32:], 0x100000000+uint64(off-dataOff))
		le.PutUint64(h[40:], uint64(len(s.data)))
		le.PutUint32(h[48:], uint32(off))
		le.PutUint32(h[64:], s.flags)
		off += len(s.data)
	}
	return append(b, data...)
}

// sectionContent returns what payload_builder --format=section-content
// writes for c.
func sectionContent(t *testing.T, c content, comp payload.Compression) []byte {
	t.Helper()
	var out bytes.Buffer
	if _, err := payload.WriteSectionContent(&bufferAt{&out}, writeSources(t, []content{c})[0], comp); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestMachO(t *testing.T) {
	cs := testContents()[:2]
	kernel := sectionContent(t, cs[0], payload.Zstd)
	initramfs := sectionContent(t, cs[1], payload.None)
	good := []machoSection{{"__kernel", kernel, 0}, {"__initramfs", append(bytes.Clone(initramfs), 0, 0, 0, 0), 0}}
	file := makeMachO("__ACTIOND", good)

	s, err := payload.Parse(bytes.NewReader(file), int64(len(file)), "darwin_actiond")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if s.Format() != payload.MachO || len(s.Payloads()) != 2 {
		t.Fatalf("Parse: format %v, %d payloads; want Mach-O sections, 2", s.Format(), len(s.Payloads()))
	}
	for _, c := range cs {
		p := s.Lookup(c.name)
		if p == nil {
			t.Fatalf("payload %s missing", c.name)
		}
		if err := p.Verify(context.Background()); err != nil {
			t.Errorf("Verify: %v", err)
		}
		if p.Size() != int64(len(c.data)) || !strings.Contains(p.Location(), "__ACTIOND,__"+c.name) {
			t.Errorf("payload %s: size %d at %s", c.name, p.Size(), p.Location())
		}
	}

	tests := []struct {
		name string
		data []byte
		want string // "" means: parses, with no payloads
	}{
		{"no segment", makeMachO("__DATA", []machoSection{{"__data", []byte("data"), 0}}), ""},
		{"empty segment", makeMachO("__ACTIOND", nil), ""},
		{"truncated load commands", file[:60], "reading Mach-O"},
		{"corrupt header", func() []byte {
			b := bytes.Clone(file)
			binary.LittleEndian.PutUint32(b[20:], 1<<30) // sizeofcmds
			return b
		}(), "reading Mach-O"},
		{"section past the end", file[:len(file)-8], "outside the file"},
		{"zero-fill section", makeMachO("__ACTIOND", []machoSection{{"__kernel", kernel, 1}}), "zero-fill"},
		{"bad section name", makeMachO("__ACTIOND", []machoSection{{"__Kernel", kernel, 0}}), "only a-z"},
		{"section name not prefixed", makeMachO("__ACTIOND", []machoSection{{"kernel", kernel, 0}}), "does not start with __"},
		{"content of another payload", makeMachO("__ACTIOND", []machoSection{{"__runtimes", kernel, 0}}), `holds payload "kernel"`},
		{"short section", makeMachO("__ACTIOND", []machoSection{{"__kernel", kernel[:40], 0}}), "shorter than a payload header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := payload.Parse(bytes.NewReader(tt.data), int64(len(tt.data)), "darwin_actiond")
			if tt.want == "" {
				if err != nil || s.Format() != payload.NoFormat || len(s.Payloads()) != 0 {
					t.Fatalf("Parse: %v, %v; want no payloads", s, err)
				}
				_, err := s.Require(payload.Kernel, "--kernel")
				if !errors.Is(err, payload.ErrNotEmbedded) || err.Error() != "no kernel is embedded in darwin_actiond: pass --kernel" {
					t.Errorf("Require: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, payload.ErrCorrupt) {
				t.Fatalf("Parse: %v, want an ErrCorrupt containing %q", err, tt.want)
			}
		})
	}
}

func TestMachOOverlappingSections(t *testing.T) {
	// The kernel's content is the initramfs blob, and the initramfs
	// section points at it: both blobs are valid, and they overlap.
	i := sectionContent(t, content{payload.Initramfs, []byte("initramfs")}, payload.None)
	k := sectionContent(t, content{payload.Kernel, i}, payload.None)
	file := makeMachO("__ACTIOND", []machoSection{{"__kernel", k, 0}, {"__initramfs", i, 0}})
	le := binary.LittleEndian
	first, second := 32+72, 32+72+80
	le.PutUint32(file[second+48:], le.Uint32(file[first+48:])+80)
	_, err := payload.Parse(bytes.NewReader(file), int64(len(file)), "darwin_actiond")
	if err == nil || !errors.Is(err, payload.ErrCorrupt) || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("Parse: %v, want an ErrCorrupt about overlapping payloads", err)
	}
}
