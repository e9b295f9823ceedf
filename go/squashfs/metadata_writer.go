package squashfs

import "encoding/binary"

// metadataWriter builds one metadata table (inodes, directories, fragment
// entries, ids) in memory: a sequence of blocks of 8 KiB uncompressed data,
// each behind a 2-byte header giving its stored size.
type metadataWriter struct {
	comp compressor
	// out holds the finished blocks, headers included.
	out []byte
	// blockStarts holds the offset in out of each finished block.
	blockStarts []uint32
	// cur is the current, unfinished block.
	cur []byte
}

func newMetadataWriter(comp compressor) *metadataWriter {
	return &metadataWriter{comp: comp, cur: make([]byte, 0, metadataBlockSize)}
}

// position returns where the next byte goes: the offset of the current
// block's header in the table and the offset within its uncompressed data.
// Inode references and directory headers are made of these.
func (m *metadataWriter) position() (block uint32, offset uint16) {
	return uint32(len(m.out)), uint16(len(m.cur))
}

// uncompressedPosition returns the number of uncompressed bytes written.
// Since all blocks but the last are full, it divided by metadataBlockSize
// is the index of the current block.
func (m *metadataWriter) uncompressedPosition() uint64 {
	return uint64(len(m.blockStarts))*metadataBlockSize + uint64(len(m.cur))
}

func (m *metadataWriter) write(p []byte) {
	for len(p) > 0 {
		n := copy(m.cur[len(m.cur):metadataBlockSize], p)
		m.cur = m.cur[:len(m.cur)+n]
		p = p[n:]
		if len(m.cur) == metadataBlockSize {
			m.flush()
		}
	}
}

func (m *metadataWriter) flush() {
	m.blockStarts = append(m.blockStarts, uint32(len(m.out)))
	if c := m.comp.compress(m.cur); c != nil {
		m.out = binary.LittleEndian.AppendUint16(m.out, uint16(len(c)))
		m.out = append(m.out, c...)
	} else {
		m.out = binary.LittleEndian.AppendUint16(m.out, uint16(len(m.cur))|metadataUncompressed)
		m.out = append(m.out, m.cur...)
	}
	m.cur = m.cur[:0]
}

// finish flushes the last partial block and returns the table.
func (m *metadataWriter) finish() []byte {
	if len(m.cur) > 0 {
		m.flush()
	}
	return m.out
}
