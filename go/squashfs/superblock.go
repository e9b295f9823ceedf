package squashfs

import "encoding/binary"

// superblock is the 96-byte header at the start of an image.
type superblock struct {
	inodeCount          uint32
	blockSize           uint32
	fragmentCount       uint32
	compressionID       uint16
	blockLog            uint16
	flags               uint16
	idCount             uint16
	rootInode           uint64
	bytesUsed           uint64
	idTableStart        uint64
	xattrTableStart     uint64
	inodeTableStart     uint64
	directoryTableStart uint64
	fragmentTableStart  uint64
	exportTableStart    uint64
}

func (s superblock) marshal() []byte {
	b := make([]byte, 0, superblockSize)
	b = binary.LittleEndian.AppendUint32(b, magic)
	b = binary.LittleEndian.AppendUint32(b, s.inodeCount)
	b = binary.LittleEndian.AppendUint32(b, 0) // mkfs time
	b = binary.LittleEndian.AppendUint32(b, s.blockSize)
	b = binary.LittleEndian.AppendUint32(b, s.fragmentCount)
	b = binary.LittleEndian.AppendUint16(b, s.compressionID)
	b = binary.LittleEndian.AppendUint16(b, s.blockLog)
	b = binary.LittleEndian.AppendUint16(b, s.flags)
	b = binary.LittleEndian.AppendUint16(b, s.idCount)
	b = binary.LittleEndian.AppendUint16(b, versionMajor)
	b = binary.LittleEndian.AppendUint16(b, versionMinor)
	b = binary.LittleEndian.AppendUint64(b, s.rootInode)
	b = binary.LittleEndian.AppendUint64(b, s.bytesUsed)
	b = binary.LittleEndian.AppendUint64(b, s.idTableStart)
	b = binary.LittleEndian.AppendUint64(b, s.xattrTableStart)
	b = binary.LittleEndian.AppendUint64(b, s.inodeTableStart)
	b = binary.LittleEndian.AppendUint64(b, s.directoryTableStart)
	b = binary.LittleEndian.AppendUint64(b, s.fragmentTableStart)
	return binary.LittleEndian.AppendUint64(b, s.exportTableStart)
}
