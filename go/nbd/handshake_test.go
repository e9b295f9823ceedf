package nbd_test

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// Wire values, written here from the protocol document rather than taken
// from the package, so that a wrong constant there fails.
const (
	optExportName = 1
	optInfo       = 6
	optGo         = 7
	optStructured = 8
	optMetaCtx    = 10
	optExtHeaders = 11
	repAck        = 1
	repInfo       = 3
	repErrUnsup   = 1<<31 + 1
	repErrInvalid = 1<<31 + 3
)

// client is a hand-rolled NBD client for what qemu-io never sends.
type client struct {
	t *testing.T
	c net.Conn
}

func dial(t *testing.T, socket string) *client {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t, c}
	if m := cl.u64(); m != 0x4e42444d41474943 {
		t.Fatalf("magic %#x", m)
	}
	if m := cl.u64(); m != 0x49484156454f5054 {
		t.Fatalf("IHAVEOPT %#x", m)
	}
	if f := cl.u16(); f != 3 {
		t.Fatalf("handshake flags %#x, want FIXED_NEWSTYLE|NO_ZEROES", f)
	}
	cl.write(binary.BigEndian.AppendUint32(nil, 1)) // FIXED_NEWSTYLE, with zeroes
	return cl
}

func (c *client) write(b []byte) {
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(c.c, b); err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *client) u16() uint16 { return binary.BigEndian.Uint16(c.read(2)) }
func (c *client) u32() uint32 { return binary.BigEndian.Uint32(c.read(4)) }
func (c *client) u64() uint64 { return binary.BigEndian.Uint64(c.read(8)) }

func (c *client) option(opt uint32, data []byte) {
	b := binary.BigEndian.AppendUint64(nil, 0x49484156454f5054)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	c.write(append(b, data...))
}

// reply reads an option reply and returns its type and data.
func (c *client) reply(opt uint32) (uint32, []byte) {
	if m := c.u64(); m != 0x0003e889045565a9 {
		c.t.Fatalf("reply magic %#x", m)
	}
	if o := c.u32(); o != opt {
		c.t.Fatalf("reply to option %d, want %d", o, opt)
	}
	typ, n := c.u32(), c.u32()
	return typ, c.read(int(n))
}

// readBlock sends READ of 4 KiB at off and returns the data.
func (c *client) readBlock(off uint64) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0x25609513)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, 0) // READ
	b = binary.BigEndian.AppendUint64(b, 42)
	b = binary.BigEndian.AppendUint64(b, off)
	b = binary.BigEndian.AppendUint32(b, 4096)
	c.write(b)
	if m := c.u32(); m != 0x67446698 {
		c.t.Fatalf("simple reply magic %#x", m)
	}
	if e := c.u32(); e != 0 {
		c.t.Fatalf("READ error %d", e)
	}
	if h := c.u64(); h != 42 {
		c.t.Fatalf("handle %d", h)
	}
	return c.read(4096)
}

// infoRequest is NBD_OPT_INFO/GO data for the name asking for the block
// size information.
func infoRequest(name string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, 1)
	return binary.BigEndian.AppendUint16(b, 3) // NBD_INFO_BLOCK_SIZE
}

// TestHandshake goes through the options qemu-io does not exercise: the
// unsupported ones, NBD_OPT_INFO, a malformed NBD_OPT_GO, and the old
// NBD_OPT_EXPORT_NAME ending the handshake with its 124 zero bytes.
func TestHandshake(t *testing.T) {
	_, _, sock := serve(t, 64<<10)
	c := dial(t, sock)
	for _, opt := range []uint32{optStructured, optMetaCtx, optExtHeaders, 99} {
		c.option(opt, nil)
		if typ, _ := c.reply(opt); typ != repErrUnsup {
			t.Errorf("option %d: reply %#x, want NBD_REP_ERR_UNSUP", opt, typ)
		}
	}
	c.option(optInfo, infoRequest("any"))
	typ, data := c.reply(optInfo)
	if typ != repInfo || len(data) != 12 || binary.BigEndian.Uint16(data) != 0 || binary.BigEndian.Uint64(data[2:]) != 64<<10 {
		t.Errorf("NBD_OPT_INFO: reply %#x %x, want NBD_REP_INFO with NBD_INFO_EXPORT of 65536 bytes", typ, data)
	}
	if flags := binary.BigEndian.Uint16(data[10:]); flags&(1|4|8) != 1|4|8 {
		t.Errorf("transmission flags %#x lack HAS_FLAGS, SEND_FLUSH or SEND_FUA", flags)
	}
	if typ, _ := c.reply(optInfo); typ != repAck {
		t.Errorf("NBD_OPT_INFO: then %#x, want NBD_REP_ACK", typ)
	}
	c.option(optGo, infoRequest("any")[:5])
	if typ, _ := c.reply(optGo); typ != repErrInvalid {
		t.Errorf("malformed NBD_OPT_GO: reply %#x, want NBD_REP_ERR_INVALID", typ)
	}
	c.option(optExportName, []byte("any"))
	if size := c.u64(); size != 64<<10 {
		t.Errorf("NBD_OPT_EXPORT_NAME: size %d", size)
	}
	c.u16()
	for i, b := range c.read(124) {
		if b != 0 {
			t.Fatalf("byte %d of the 124 reserved ones is %#x", i, b)
		}
	}
	if b := c.readBlock(0); b[0] != 0 {
		t.Errorf("READ: %x", b[:8])
	}
}
