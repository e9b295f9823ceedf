package guest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// Filesystem names what a disk holds, as far as its first bytes tell.
type Filesystem string

// The kinds Detect reports. Empty is the only one a disk may be formatted
// from; Unknown is data with no signature Detect knows, which is as
// untouchable as a real file system.
const (
	Empty    Filesystem = ""
	Ext      Filesystem = "ext2/3/4"
	SquashFS Filesystem = "squashfs"
	XFS      Filesystem = "xfs"
	Btrfs    Filesystem = "btrfs"
	F2FS     Filesystem = "f2fs"
	ISO9660  Filesystem = "iso9660"
	LUKS     Filesystem = "luks"
	Swap     Filesystem = "swap"
	GPT      Filesystem = "gpt partition table"
	DOS      Filesystem = "dos partition table or fat"
	Unknown  Filesystem = "unknown (non-zero data)"
)

// detectWindow is how much of the disk Detect reads: it covers every
// signature below (btrfs's sits at 64 KiB) and the area any file system or
// partition table writes first. A disk whose window is all zeros counts as
// empty.
const detectWindow = 1 << 20

// signature is a magic value at a fixed offset.
type signature struct {
	fs     Filesystem
	offset int
	magic  []byte
}

var signatures = []signature{
	{SquashFS, 0, []byte("hsqs")},
	{XFS, 0, []byte("XFSB")},
	{LUKS, 0, []byte("LUKS\xba\xbe")},
	{Ext, 1080, []byte{0x53, 0xef}}, // s_magic 0xEF53, little-endian, in the superblock at 1024
	{F2FS, 1024, binary.LittleEndian.AppendUint32(nil, 0xF2F52010)},
	{GPT, 512, []byte("EFI PART")},
	{Swap, 4086, []byte("SWAPSPACE2")},
	{Swap, 4086, []byte("SWAP-SPACE")},
	{ISO9660, 32769, []byte("CD001")},
	{Btrfs, 65536 + 64, []byte("_BHRfS_M")},
	{DOS, 510, []byte{0x55, 0xaa}},
}

// Detect reports what r (a disk, read from offset 0) holds. A disk shorter
// than the window is read to its end.
func Detect(r io.ReaderAt) (Filesystem, error) {
	buf := make([]byte, detectWindow)
	n, err := r.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	buf = buf[:n]
	for _, s := range signatures {
		if end := s.offset + len(s.magic); end <= len(buf) && bytes.Equal(buf[s.offset:end], s.magic) {
			return s.fs, nil
		}
	}
	for _, b := range buf {
		if b != 0 {
			return Unknown, nil
		}
	}
	return Empty, nil
}
