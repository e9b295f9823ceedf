package nbd

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// conn is one client connection.
type conn struct {
	s        *Server
	r        *bufio.Reader
	w        *bufio.Writer
	noZeroes bool // the client agreed to NBD_FLAG_C_NO_ZEROES
}

// serveConn runs the handshake and then serves requests until the client
// disconnects or the disk goes down. A client hanging up between messages
// and a disk going down are not errors.
func serveConn(s *Server, nc net.Conn) error {
	c := &conn{s: s, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
	err := c.handshake()
	if err == nil {
		err = c.transmission()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, errDown) || errors.Is(err, errAbort) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// errAbort ends a connection whose client sent NBD_OPT_ABORT or DISC.
var errAbort = errors.New("the client ended the session")

func (c *conn) handshake() error {
	c.put64(magicInit)
	c.put64(magicOpt)
	c.put16(flagFixedNewstyle | flagNoZeroes)
	if err := c.w.Flush(); err != nil {
		return err
	}
	var cflags [4]byte
	if _, err := io.ReadFull(c.r, cflags[:]); err != nil {
		return err
	}
	f := binary.BigEndian.Uint32(cflags[:])
	if f&^(flagFixedNewstyle|flagNoZeroes) != 0 {
		return fmt.Errorf("client flags %#x: unknown flags", f)
	}
	c.noZeroes = f&flagNoZeroes != 0
	for {
		var h [16]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return err
		}
		if m := binary.BigEndian.Uint64(h[:]); m != magicOpt {
			return fmt.Errorf("option magic %#x", m)
		}
		opt, n := binary.BigEndian.Uint32(h[8:]), binary.BigEndian.Uint32(h[12:])
		if n > maxOption {
			return fmt.Errorf("option %d carries %d bytes", opt, n)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(c.r, data); err != nil {
			return err
		}
		switch opt {
		case optExportName:
			// The one export answers to every name. The reply has no
			// option header; transmission starts right after it.
			c.put64(uint64(c.s.cache.size))
			c.put16(transmissionFlags)
			if !c.noZeroes {
				c.w.Write(make([]byte, 124))
			}
			return c.w.Flush()
		case optInfo, optGo:
			if !validInfoRequest(data) {
				if err := c.optReply(opt, repErrInvalid, nil); err != nil {
					return err
				}
				continue
			}
			info := make([]byte, 12)
			binary.BigEndian.PutUint16(info, infoExport)
			binary.BigEndian.PutUint64(info[2:], uint64(c.s.cache.size))
			binary.BigEndian.PutUint16(info[10:], transmissionFlags)
			if err := c.optReply(opt, repInfo, info); err != nil {
				return err
			}
			if err := c.optReply(opt, repAck, nil); err != nil {
				return err
			}
			if opt == optGo {
				return nil
			}
		case optAbort:
			_ = c.optReply(opt, repAck, nil)
			return errAbort
		default:
			// Structured replies, metadata contexts, extended headers,
			// TLS, listing: the client falls back to what it has without
			// them.
			if err := c.optReply(opt, repErrUnsup, nil); err != nil {
				return err
			}
		}
	}
}

// validInfoRequest checks the layout of NBD_OPT_INFO and NBD_OPT_GO data:
// a 32-bit name length, the name, a 16-bit count and that many 16-bit
// information requests (which this server answers with NBD_INFO_EXPORT
// only, the one it must send).
func validInfoRequest(d []byte) bool {
	if len(d) < 4 {
		return false
	}
	n := int64(binary.BigEndian.Uint32(d))
	if int64(len(d)) < 4+n+2 {
		return false
	}
	k := int64(binary.BigEndian.Uint16(d[4+n:]))
	return int64(len(d)) == 4+n+2+2*k
}

func (c *conn) optReply(opt, typ uint32, data []byte) error {
	c.put64(magicOptReply)
	c.put32(opt)
	c.put32(typ)
	c.put32(uint32(len(data)))
	c.w.Write(data)
	return c.w.Flush()
}

func (c *conn) transmission() error {
	var h [28]byte
	for {
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return err
		}
		if m := binary.BigEndian.Uint32(h[:]); m != magicRequest {
			return fmt.Errorf("request magic %#x", m)
		}
		flags, typ := binary.BigEndian.Uint16(h[4:]), binary.BigEndian.Uint16(h[6:])
		handle := binary.BigEndian.Uint64(h[8:])
		off, n := int64(binary.BigEndian.Uint64(h[16:])), int64(binary.BigEndian.Uint32(h[24:]))
		fua := flags&cmdFlagFUA != 0
		inRange := off >= 0 && off <= c.s.cache.size && n <= c.s.cache.size-off
		var errno uint32
		var data []byte
		switch typ {
		case cmdRead:
			switch {
			case n > maxPayload || !inRange:
				errno = errInval
			default:
				data = make([]byte, n)
				errno = c.serve(func(wc *writeCache, st *Stats) error {
					st.Reads++
					return wc.readAt(data, off)
				})
			}
		case cmdWrite:
			if n > maxPayload {
				// Its payload cannot be skipped safely.
				return fmt.Errorf("WRITE of %d bytes", n)
			}
			p := make([]byte, n)
			if _, err := io.ReadFull(c.r, p); err != nil {
				return err
			}
			if !inRange {
				errno = errNoSpc
				break
			}
			errno = c.serve(func(wc *writeCache, st *Stats) error {
				st.Writes++
				st.WrittenBytes += n
				if fua {
					st.FUAWrites++
				}
				return wc.writeAt(p, off, n, fua)
			})
		case cmdFlush:
			errno = c.serve(func(wc *writeCache, st *Stats) error {
				st.Flushes++
				return wc.flush()
			})
		case cmdTrim, cmdWriteZeroes:
			if !inRange {
				errno = errNoSpc
				break
			}
			errno = c.serve(func(wc *writeCache, st *Stats) error {
				if typ == cmdTrim {
					st.Trims++
				} else {
					st.WriteZeroes++
				}
				// A trimmed range reads back as zeros: the protocol allows
				// any content, and zeros are what a later read can check.
				return wc.writeAt(nil, off, n, fua)
			})
		case cmdDisc:
			return errAbort
		default:
			errno = errInval
		}
		if errno == errDownErrno {
			return errDown
		}
		c.put32(magicSimpleRep)
		c.put32(errno)
		c.put64(handle)
		if errno == 0 {
			c.w.Write(data)
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
	}
}

// errDownErrno is serve's answer when the disk is down: no reply at all.
const errDownErrno = ^uint32(0)

// serve runs f on the server's cache and turns its error into the reply's
// error value.
func (c *conn) serve(f func(*writeCache, *Stats) error) uint32 {
	err := c.s.do(f)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errDown):
		return errDownErrno
	default:
		c.s.mu.Lock()
		if c.s.err == nil {
			c.s.err = fmt.Errorf("image I/O: %w", err)
		}
		c.s.mu.Unlock()
		return errIO
	}
}

func (c *conn) put16(v uint16) { c.w.Write(binary.BigEndian.AppendUint16(nil, v)) }
func (c *conn) put32(v uint32) { c.w.Write(binary.BigEndian.AppendUint32(nil, v)) }
func (c *conn) put64(v uint64) { c.w.Write(binary.BigEndian.AppendUint64(nil, v)) }
