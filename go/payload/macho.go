package payload

import (
	"debug/macho"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// MachOSegment is the segment holding the payload sections "__<name>" of
// a Mach-O file.
const MachOSegment = "__ACTIOND"

// Section types (the low byte of a section's flags) whose section has no
// bytes in the file.
var machoZerofill = map[uint32]bool{0x1: true, 0xc: true, 0x12: true}

func isMachO(magic []byte) bool {
	if len(magic) < 4 {
		return false
	}
	switch binary.LittleEndian.Uint32(magic) {
	case macho.Magic32, macho.Magic64:
		return true
	}
	switch binary.BigEndian.Uint32(magic) {
	case macho.Magic32, macho.Magic64:
		return true
	}
	return false
}

// readMachO returns the payloads in the __ACTIOND sections of r.
func readMachO(r io.ReaderAt, size int64, exe string) (ps []*Payload, err error) {
	defer func() {
		if v := recover(); v != nil {
			ps, err = nil, fmt.Errorf("%w: reading Mach-O: %v", ErrCorrupt, v)
		}
	}()
	f, err := macho.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: reading Mach-O: %v", ErrCorrupt, err)
	}
	for _, s := range f.Sections {
		if s.Seg != MachOSegment {
			continue
		}
		loc := fmt.Sprintf("Mach-O section %s,%s", s.Seg, s.Name)
		name, ok := strings.CutPrefix(s.Name, "__")
		if !ok {
			return nil, fmt.Errorf("%w: %s: name does not start with __", ErrCorrupt, loc)
		}
		if err := ValidateName(name); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, loc, err)
		}
		if machoZerofill[s.Flags&0xff] {
			return nil, fmt.Errorf("%w: %s is zero-fill", ErrCorrupt, loc)
		}
		if err := checkExtent(uint64(s.Offset), s.Size, uint64(size)); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, loc, err)
		}
		p, err := readBlob(r, int64(s.Offset), int64(s.Size), name, false, exe, loc)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}
