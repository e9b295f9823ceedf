package squashfs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"
)

// fileData says where a file's contents are in the image.
type fileData struct {
	// start is the image offset of the first block; later blocks follow
	// back to back.
	start uint64
	// sizes holds the on-disk size word of each full block: the stored
	// length, dataUncompressed if stored as is, 0 for a hole.
	sizes []uint32
	// fragment is the index of the fragment block holding the tail, or
	// invalidFragment; fragmentOffset is the tail's offset in it.
	fragment       uint32
	fragmentOffset uint32
	// sparse counts the bytes in holes.
	sparse uint64
}

// fragmentEntry is one entry of the fragment table.
type fragmentEntry struct {
	start uint64
	size  uint32
}

// blockJob is one data or fragment block on its way through the pipeline:
// read by the caller, compressed by a worker, written by the writer
// goroutine in submission order, which keeps the image deterministic.
type blockJob struct {
	in  []byte
	out []byte // the bytes to write, in or a compressed copy
	// owned is set when out is a pooled buffer of its own.
	owned bool
	size  uint32 // the on-disk size word
	done  chan struct{}

	// Exactly one of file and fragment is set.
	file     *fileData
	index    int
	fragment *fragmentEntry
}

// dataWriter writes the data area: file blocks and fragment blocks.
type dataWriter struct {
	blockSize int
	w         *bufio.Writer
	pos       uint64 // image offset of the next byte, owned by the writer goroutine
	err       error  // first write error, owned by the writer goroutine

	jobs    chan *blockJob
	order   chan *blockJob
	workers sync.WaitGroup
	writer  sync.WaitGroup
	bufs    sync.Pool

	fragments []*fragmentEntry
	fragBuf   []byte
	// read counts file bytes as they are read or found duplicate.
	read func(n int64)
}

func newDataWriter(w *bufio.Writer, pos uint64, o Options, newCompressor func() compressor) *dataWriter {
	d := &dataWriter{
		blockSize: o.BlockSize,
		w:         w,
		pos:       pos,
		jobs:      make(chan *blockJob, 2*o.Workers),
		order:     make(chan *blockJob, 4*o.Workers+4),
		read:      func(int64) {},
	}
	d.bufs.New = func() any { return make([]byte, 0, o.BlockSize) }
	for range o.Workers {
		d.workers.Add(1)
		go d.compressLoop(newCompressor())
	}
	d.writer.Add(1)
	go d.writeLoop()
	d.fragBuf = d.getBuf()
	return d
}

func (d *dataWriter) getBuf() []byte { return d.bufs.Get().([]byte)[:0] }

func (d *dataWriter) compressLoop(c compressor) {
	defer d.workers.Done()
	for j := range d.jobs {
		switch {
		case j.file != nil && isZero(j.in):
			j.size = 0
		default:
			if z := c.compress(j.in); z != nil {
				j.out = append(d.getBuf(), z...)
				j.owned = true
				j.size = uint32(len(z))
			} else {
				j.out = j.in
				j.size = uint32(len(j.in)) | dataUncompressed
			}
		}
		close(j.done)
	}
}

func (d *dataWriter) writeLoop() {
	defer d.writer.Done()
	for j := range d.order {
		<-j.done
		if j.file != nil {
			if j.index == 0 {
				j.file.start = d.pos
			}
			j.file.sizes[j.index] = j.size
			if j.size == 0 {
				j.file.sparse += uint64(len(j.in))
			}
		} else {
			*j.fragment = fragmentEntry{start: d.pos, size: j.size}
		}
		if d.err == nil && j.size != 0 {
			_, d.err = d.w.Write(j.out)
		}
		d.pos += uint64(len(j.out))
		if j.owned {
			d.bufs.Put(j.out[:0])
		}
		d.bufs.Put(j.in[:0])
	}
}

func (d *dataWriter) submit(j *blockJob) {
	j.done = make(chan struct{})
	d.order <- j
	d.jobs <- j
}

// addFile queues the contents of n and returns where they will be. The
// returned fileData is complete once close returns.
func (d *dataWriter) addFile(n *inode) (*fileData, error) {
	fd := &fileData{fragment: invalidFragment}
	if n.size == 0 {
		return fd, nil
	}
	r, name, err := n.openData()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	bs := int64(d.blockSize)
	fd.sizes = make([]uint32, n.size/bs)
	for i := range fd.sizes {
		buf := d.getBuf()[:bs]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, readError(name, err)
		}
		d.submit(&blockJob{in: buf, file: fd, index: i})
		d.read(bs)
	}
	if tail := int(n.size % bs); tail > 0 {
		if len(d.fragBuf)+tail > d.blockSize {
			d.flushFragment()
		}
		fd.fragment = uint32(len(d.fragments))
		fd.fragmentOffset = uint32(len(d.fragBuf))
		end := len(d.fragBuf) + tail
		if _, err := io.ReadFull(r, d.fragBuf[len(d.fragBuf):end]); err != nil {
			return nil, readError(name, err)
		}
		d.fragBuf = d.fragBuf[:end]
		d.read(int64(tail))
	}
	var one [1]byte
	if k, _ := r.Read(one[:]); k != 0 {
		return nil, fmt.Errorf("%w: %s grew past %d bytes", ErrFileChanged, name, n.size)
	}
	return fd, nil
}

func readError(name string, err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("%w: %s shrank", ErrFileChanged, name)
	}
	return fmt.Errorf("reading %s: %w", name, err)
}

// flushFragment queues the current fragment block, if it holds anything.
func (d *dataWriter) flushFragment() {
	if len(d.fragBuf) == 0 {
		return
	}
	e := &fragmentEntry{}
	d.fragments = append(d.fragments, e)
	d.submit(&blockJob{in: d.fragBuf, fragment: e})
	d.fragBuf = d.getBuf()
}

// close writes the last fragment block, waits for all blocks to be written
// and returns the image offset after them and the fragment table.
func (d *dataWriter) close() (uint64, []fragmentEntry, error) {
	d.flushFragment()
	close(d.jobs)
	close(d.order)
	d.workers.Wait()
	d.writer.Wait()
	frags := make([]fragmentEntry, len(d.fragments))
	for i, e := range d.fragments {
		frags[i] = *e
	}
	return d.pos, frags, d.err
}

// abort stops the pipeline after a read error.
func (d *dataWriter) abort() {
	close(d.jobs)
	close(d.order)
	d.workers.Wait()
	d.writer.Wait()
}

// zeros is compared against to find holes; bytes.Equal is vectorized.
var zeros = make([]byte, maxBlockSize)

func isZero(b []byte) bool { return bytes.Equal(b, zeros[:len(b)]) }
