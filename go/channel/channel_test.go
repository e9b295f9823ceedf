package channel_test

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/actiond/actiond/go/channel"
)

// transport makes the two ends of the byte stream a session runs over, in
// place of a virtio-serial port or a vsock connection.
type transport struct {
	name string
	pair func(t testing.TB) (host, guest io.ReadWriteCloser)
}

var transports = []transport{
	{"net.Pipe", func(testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) { return net.Pipe() }},
	{"os.Pipe", osPipePair},
	{"unix socketpair", socketPair},
}

// pipeEnd is one end of two os.Pipes, like a character device a process
// reads and writes.
type pipeEnd struct {
	r, w *os.File
}

func (p pipeEnd) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p pipeEnd) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p pipeEnd) Close() error                { return errors.Join(p.r.Close(), p.w.Close()) }

func osPipePair(t testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
	t.Helper()
	r1, w1, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return pipeEnd{r1, w2}, pipeEnd{r2, w1}
}

func socketPair(t testing.TB) (io.ReadWriteCloser, io.ReadWriteCloser) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return conns[0], conns[1]
}

// startSession starts both sides of a session over tr. Cleanup closes both.
func startSession(t testing.TB, tr transport) (*channel.Host, net.Listener, io.ReadWriteCloser) {
	t.Helper()
	hostConn, guestConn := tr.pair(t)
	l, err := channel.Listen(guestConn)
	if err != nil {
		t.Fatal(err)
	}
	h, err := channel.NewHost(hostConn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		l.Close()
	})
	return h, l, guestConn
}

// serve runs handle on every connection l accepts, each in its own
// goroutine, until Accept fails; wait returns Accept's error once every
// handler has returned.
func serve(l net.Listener, handle func(net.Conn)) (wait func() error) {
	done := make(chan error, 1)
	go func() {
		handlers := make(chan struct{}, 1024)
		n := 0
		var err error
		for {
			var c net.Conn
			if c, err = l.Accept(); err != nil {
				break
			}
			n++
			go func() {
				defer func() { handlers <- struct{}{} }()
				defer c.Close()
				handle(c)
			}()
		}
		for ; n > 0; n-- {
			<-handlers
		}
		done <- err
	}()
	return func() error { return <-done }
}

// echo writes back what it reads as it reads it, and half-closes on EOF.
func echo(c net.Conn) {
	if _, err := io.Copy(c, c); err == nil {
		c.(interface{ CloseWrite() error }).CloseWrite()
	}
}

// listenLoopback listens on a loopback TCP port.
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dialTCP connects to l with a deadline that turns a hang into a failure.
func dialTCP(t testing.TB, l net.Listener) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	return c.(*net.TCPConn)
}

// checkGoroutines fails the test if goroutines started during it outlive it.
// Call it first, so that its cleanup runs last. yamux's keepalive goroutine
// and gRPC's exit shortly after Close returns, not before, so the check
// waits for the count to come down, and fails only if it does not within
// seconds.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines after the test, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
	})
}
