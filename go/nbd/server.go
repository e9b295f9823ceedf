package nbd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"sync"
)

// Server serves one image file as an NBD export behind a volatile write
// cache. The export answers to every export name. Requests are handled one
// at a time, in the order each connection sends them.
type Server struct {
	socket string
	img    *os.File
	lis    net.Listener
	wg     sync.WaitGroup

	mu    sync.Mutex
	cache *writeCache
	conns map[net.Conn]struct{}
	down  bool  // PowerCut or Close happened: nothing reaches the image any more
	stats Stats // under mu
	err   error // the first failure that was not a client going away
}

// Stats counts the requests served.
type Stats struct {
	Reads, Writes, FUAWrites, Flushes, Trims, WriteZeroes int64
	// WrittenBytes is the payload of the WRITEs.
	WrittenBytes int64
}

// errDown ends a connection whose disk lost power.
var errDown = errors.New("the disk is down")

// Listen opens image (whose size must be a multiple of BlockSize) and
// serves it on a new unix socket at socket until PowerCut or Close.
func Listen(socket, image string) (*Server, error) {
	f, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size()%BlockSize != 0 {
		f.Close()
		return nil, fmt.Errorf("image %s: size %d is not a multiple of %d", image, st.Size(), BlockSize)
	}
	lis, err := net.Listen("unix", socket)
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &Server{
		socket: socket,
		img:    f,
		lis:    lis,
		cache:  newWriteCache(f, st.Size()),
		conns:  map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// URL is the export as QEMU and qemu-io name it.
func (s *Server) URL() string {
	return "nbd+unix:///?socket=" + url.QueryEscape(s.socket)
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.lis.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.down {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := serveConn(s, c)
			s.mu.Lock()
			delete(s.conns, c)
			if err != nil && !s.down && s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// do runs f on the cache unless the disk is down.
func (s *Server) do(f func(c *writeCache, st *Stats) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	return f(s.cache, &s.stats)
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Err returns the first protocol or I/O error a connection ended with
// (a client that hangs up between requests is none), or nil.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// PowerCut stops serving at once, as a disk losing power: connections are
// dropped without replies to the requests in progress, later ones are
// refused, and of the blocks written since the last flush a random choice
// made by rng reaches the image (see writeCache.cut). A second call cuts
// nothing.
func (s *Server) PowerCut(rng *rand.Rand) (CutStats, error) {
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		return CutStats{}, nil
	}
	s.down = true
	st, err := s.cache.cut(rng)
	s.mu.Unlock()
	return st, errors.Join(err, s.shut())
}

// Close stops serving as a disk powered off in order: the cache is
// written back first. After PowerCut it only releases the image.
func (s *Server) Close() error {
	s.mu.Lock()
	var err error
	if !s.down {
		s.down = true
		err = s.cache.flush()
	}
	s.mu.Unlock()
	return errors.Join(err, s.shut())
}

// shut closes the listener and the connections, waits for their
// goroutines and closes the image.
func (s *Server) shut() error {
	s.lis.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.img == nil {
		return nil
	}
	err := s.img.Close()
	s.img = nil
	return err
}
