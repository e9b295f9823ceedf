package payload

import (
	"debug/elf"
	"fmt"
	"io"
	"strings"
)

// ELFSectionPrefix starts the name of every payload section of an ELF file.
const ELFSectionPrefix = ".actiond."

// readELF returns the payloads in the ELF sections of r.
func readELF(r io.ReaderAt, size int64, exe string) (ps []*Payload, err error) {
	// debug/elf has panicked on crafted files before; a panic here would
	// take the daemon down at start for a bad download.
	defer func() {
		if v := recover(); v != nil {
			ps, err = nil, fmt.Errorf("%w: reading ELF: %v", ErrCorrupt, v)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: reading ELF: %v", ErrCorrupt, err)
	}
	for _, s := range f.Sections {
		name, ok := strings.CutPrefix(s.Name, ELFSectionPrefix)
		if !ok {
			continue
		}
		loc := fmt.Sprintf("ELF section %q", s.Name)
		if err := ValidateName(name); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, loc, err)
		}
		if s.Type == elf.SHT_NOBITS || s.Flags&elf.SHF_COMPRESSED != 0 {
			return nil, fmt.Errorf("%w: %s has type %v, flags %v", ErrCorrupt, loc, s.Type, s.Flags)
		}
		if err := checkExtent(s.Offset, s.FileSize, uint64(size)); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, loc, err)
		}
		p, err := readBlob(r, int64(s.Offset), int64(s.FileSize), name, false, exe, loc)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// checkExtent returns an error unless [off, off+n) lies within a file of
// size bytes, without overflowing.
func checkExtent(off, n, size uint64) error {
	if off > size || n > size-off {
		return fmt.Errorf("bytes %d to %d+%d lie outside the file of %d bytes", off, off, n, size)
	}
	return nil
}
