package payload

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
)

// ELF64 header field offsets and sizes.
const (
	elfHeaderSize   = 64
	elfShoffAt      = 0x28
	elfShentsizeAt  = 0x3a
	elfShnumAt      = 0x3c
	elfShstrndxAt   = 0x3e
	elfShdrSize     = 64
	elfShdrOffsetAt = 24
	elfShdrSizeAt   = 32
)

// WriteELF writes to out the size bytes of the ELF executable exe with
// one section ".actiond.<name>" per source (in name order) and returns
// the length of out. It does what `objcopy --add-section` does, and less:
// the sections are not allocated (no SHF_ALLOC, type SHT_PROGBITS), so no
// segment changes. The output is the input, then the blobs, a copy of the
// section name table extended with the new names, and a new section
// header table (the old one stays in place, unused); in the ELF header
// only e_shoff and e_shnum change. Every byte the loader maps is kept, so
// the program runs as before. Only 64-bit little-endian x86-64 and
// AArch64 files are accepted, and none that carries payloads already
// ([ErrHasPayloads]).
func WriteELF(out io.WriterAt, exe io.ReaderAt, size int64, srcs []Source, c Compression) (int64, error) {
	srcs, err := sortedSources(srcs)
	if err != nil {
		return 0, err
	}
	layout, err := readELFLayout(exe, size)
	if err != nil {
		return 0, err
	}
	if err := checkNoPayloads(exe, size); err != nil {
		return 0, err
	}
	if err := copyAt(out, exe, size); err != nil {
		return 0, err
	}
	strtab := bytes.Clone(layout.shstrtab)
	if len(strtab) == 0 || strtab[len(strtab)-1] != 0 {
		strtab = append(strtab, 0)
	}
	newShdrs := make([]byte, 0, len(srcs)*elfShdrSize)
	off := size
	for _, s := range srcs {
		n, err := writeBlob(out, off, s, c)
		if err != nil {
			return 0, err
		}
		var sh [elfShdrSize]byte
		le := binary.LittleEndian
		le.PutUint32(sh[0:], uint32(len(strtab)))       // sh_name
		le.PutUint32(sh[4:], uint32(elf.SHT_PROGBITS))  // sh_type
		le.PutUint64(sh[elfShdrOffsetAt:], uint64(off)) // sh_offset
		le.PutUint64(sh[elfShdrSizeAt:], uint64(n))     // sh_size
		le.PutUint64(sh[48:], 1)                        // sh_addralign
		newShdrs = append(newShdrs, sh[:]...)
		strtab = append(strtab, ELFSectionPrefix+s.Name+"\x00"...)
		off += n
	}
	strtabOff := off
	if _, err := out.WriteAt(strtab, off); err != nil {
		return 0, err
	}
	off += int64(len(strtab))
	// Section headers are read as 8-byte aligned structures.
	if pad := (8 - off%8) % 8; pad > 0 {
		if _, err := out.WriteAt(make([]byte, pad), off); err != nil {
			return 0, err
		}
		off += pad
	}
	shdrs := bytes.Clone(layout.shdrs)
	str := shdrs[layout.shstrndx*elfShdrSize:]
	binary.LittleEndian.PutUint64(str[elfShdrOffsetAt:], uint64(strtabOff))
	binary.LittleEndian.PutUint64(str[elfShdrSizeAt:], uint64(len(strtab)))
	shdrs = append(shdrs, newShdrs...)
	shoff := off
	if _, err := out.WriteAt(shdrs, off); err != nil {
		return 0, err
	}
	off += int64(len(shdrs))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(shoff))
	if _, err := out.WriteAt(b[:8], elfShoffAt); err != nil {
		return 0, err
	}
	binary.LittleEndian.PutUint16(b[:], uint16(len(shdrs)/elfShdrSize))
	if _, err := out.WriteAt(b[:2], elfShnumAt); err != nil {
		return 0, err
	}
	return off, nil
}

// elfLayout is what WriteELF needs of its input.
type elfLayout struct {
	shdrs    []byte // the section header table
	shstrndx int
	shstrtab []byte // the section name table's content
}

func readELFLayout(r io.ReaderAt, size int64) (*elfLayout, error) {
	hdr := make([]byte, elfHeaderSize)
	if _, err := r.ReadAt(hdr, 0); err != nil || !bytes.Equal(hdr[:4], []byte(elf.ELFMAG)) {
		return nil, fmt.Errorf("not an ELF file")
	}
	if elf.Class(hdr[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(hdr[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("ELF %v %v is not supported: only 64-bit little-endian files", elf.Class(hdr[elf.EI_CLASS]), elf.Data(hdr[elf.EI_DATA]))
	}
	le := binary.LittleEndian
	if m := elf.Machine(le.Uint16(hdr[0x12:])); m != elf.EM_X86_64 && m != elf.EM_AARCH64 {
		return nil, fmt.Errorf("ELF machine %v is not supported: only x86-64 and AArch64", m)
	}
	shoff := le.Uint64(hdr[elfShoffAt:])
	shnum := int(le.Uint16(hdr[elfShnumAt:]))
	shstrndx := int(le.Uint16(hdr[elfShstrndxAt:]))
	switch {
	case shoff == 0 || shnum == 0:
		return nil, fmt.Errorf("ELF file has no section header table (or more than %d sections)", elf.SHN_LORESERVE)
	case le.Uint16(hdr[elfShentsizeAt:]) != elfShdrSize:
		return nil, fmt.Errorf("ELF section header size %d, want %d", le.Uint16(hdr[elfShentsizeAt:]), elfShdrSize)
	case shstrndx == 0 || shstrndx >= shnum:
		return nil, fmt.Errorf("ELF section name table index %d is not among %d sections", shstrndx, shnum)
	case shnum+maxManifestEntries >= int(elf.SHN_LORESERVE):
		return nil, fmt.Errorf("ELF file has %d sections, too many to add to", shnum)
	}
	if err := checkExtent(shoff, uint64(shnum*elfShdrSize), uint64(size)); err != nil {
		return nil, fmt.Errorf("ELF section header table: %v", err)
	}
	l := &elfLayout{shdrs: make([]byte, shnum*elfShdrSize), shstrndx: shstrndx}
	if _, err := r.ReadAt(l.shdrs, int64(shoff)); err != nil {
		return nil, err
	}
	str := l.shdrs[shstrndx*elfShdrSize:]
	if t := elf.SectionType(le.Uint32(str[4:])); t != elf.SHT_STRTAB {
		return nil, fmt.Errorf("ELF section name table has type %v", t)
	}
	soff, ssize := le.Uint64(str[elfShdrOffsetAt:]), le.Uint64(str[elfShdrSizeAt:])
	if err := checkExtent(soff, ssize, uint64(size)); err != nil {
		return nil, fmt.Errorf("ELF section name table: %v", err)
	}
	l.shstrtab = make([]byte, ssize)
	if _, err := r.ReadAt(l.shstrtab, int64(soff)); err != nil {
		return nil, err
	}
	return l, nil
}
