package nbd

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
)

// BlockSize is the granularity of the write cache: a power cut keeps or
// loses each aligned block of this size as a whole.
const BlockSize = 4096

// backing is the persistent medium under the cache: the image file.
type backing interface {
	io.ReaderAt
	io.WriterAt
}

// writeCache is a disk's volatile write cache over a backing image. For
// every block written since the last flush it keeps each version written,
// oldest first; a nil version is a block of zeros (trimmed or zeroed),
// which costs no memory however large the range. Not safe for concurrent
// use: Server serialises the calls.
type writeCache struct {
	img   backing
	size  int64
	dirty map[int64][][]byte
}

func newWriteCache(img backing, size int64) *writeCache {
	return &writeCache{img: img, size: size, dirty: map[int64][][]byte{}}
}

// block returns the current content of block b: its newest cached version,
// else what the image holds. The result may be shared: callers copy it
// before changing it.
func (c *writeCache) block(b int64) ([]byte, error) {
	if vs, ok := c.dirty[b]; ok {
		if v := vs[len(vs)-1]; v != nil {
			return v, nil
		}
		return make([]byte, BlockSize), nil
	}
	buf := make([]byte, BlockSize)
	if _, err := c.img.ReadAt(buf, b*BlockSize); err != nil && err != io.EOF {
		return nil, err
	}
	return buf, nil
}

// readAt reads len(p) bytes at off as the client sees them.
func (c *writeCache) readAt(p []byte, off int64) error {
	for len(p) > 0 {
		b, in := off/BlockSize, off%BlockSize
		cur, err := c.block(b)
		if err != nil {
			return err
		}
		n := copy(p, cur[in:])
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// writeAt caches p at off (zeros if p is nil, with n its length) and, with
// fua, writes the blocks it touches back at once.
func (c *writeCache) writeAt(p []byte, off, n int64, fua bool) error {
	for n > 0 {
		b, in := off/BlockSize, off%BlockSize
		l := min(n, BlockSize-in)
		var v []byte // a whole block of zeros stays nil
		switch {
		case l == BlockSize && p != nil:
			v = slices.Clone(p[:l])
			p = p[l:]
		case l < BlockSize:
			cur, err := c.block(b)
			if err != nil {
				return err
			}
			v = slices.Clone(cur)
			if p != nil {
				copy(v[in:in+l], p[:l])
				p = p[l:]
			} else {
				clear(v[in : in+l])
			}
		}
		c.dirty[b] = append(c.dirty[b], v)
		if fua {
			// The block's newest content is on the medium now; an older
			// cached version must never be written back over it.
			if err := c.persist(b, v); err != nil {
				return err
			}
			delete(c.dirty, b)
		}
		off, n = off+l, n-l
	}
	return nil
}

// flush writes every cached block back in its newest version.
func (c *writeCache) flush() error {
	for _, b := range c.blocks() {
		vs := c.dirty[b]
		if err := c.persist(b, vs[len(vs)-1]); err != nil {
			return err
		}
		delete(c.dirty, b)
	}
	return nil
}

// CutStats says what a power cut did to the cached blocks.
type CutStats struct {
	// Dirty is how many blocks were written since the last flush.
	Dirty int
	// KeptNewest, KeptOlder and Dropped count the blocks whose newest
	// version, an older one, or none reached the image.
	KeptNewest, KeptOlder, Dropped int
}

func (s CutStats) String() string {
	return fmt.Sprintf("%d dirty blocks: %d kept newest, %d kept an older version, %d dropped", s.Dirty, s.KeptNewest, s.KeptOlder, s.Dropped)
}

// cut writes back, for each cached block in block order, one version
// chosen by rng (each version and "none" equally likely) and empties the
// cache. The order makes a cut a function of rng's seed and the cache.
func (c *writeCache) cut(rng *rand.Rand) (CutStats, error) {
	var s CutStats
	for _, b := range c.blocks() {
		vs := c.dirty[b]
		s.Dirty++
		switch i := rng.IntN(len(vs) + 1); {
		case i == 0:
			s.Dropped++
		default:
			if i == len(vs) {
				s.KeptNewest++
			} else {
				s.KeptOlder++
			}
			if err := c.persist(b, vs[i-1]); err != nil {
				return s, err
			}
		}
		delete(c.dirty, b)
	}
	return s, nil
}

// blocks is the cached block numbers in order.
func (c *writeCache) blocks() []int64 {
	bs := make([]int64, 0, len(c.dirty))
	for b := range c.dirty {
		bs = append(bs, b)
	}
	slices.Sort(bs)
	return bs
}

// persist writes version v of block b to the image. The image file is
// not synced: the host does not lose power in these tests, and the
// simulated disk's medium is the file as the host's page cache sees it.
func (c *writeCache) persist(b int64, v []byte) error {
	if v == nil {
		v = make([]byte, BlockSize)
	}
	_, err := c.img.WriteAt(v, b*BlockSize)
	return err
}
