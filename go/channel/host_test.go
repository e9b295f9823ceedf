package channel_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/actiond/actiond/go/channel"
)

// TestHalfClose checks that an EOF crosses the channel as a half-close in
// both directions, through Forward (TCP) and through Dial.
func TestHalfClose(t *testing.T) {
	sizes := []int{0, 1, 3 << 20, 20 << 20}
	dials := []struct {
		name string
		dial func(t *testing.T, h *channel.Host, tcp net.Listener) net.Conn
	}{
		{"Forward", func(t *testing.T, _ *channel.Host, tcp net.Listener) net.Conn { return dialTCP(t, tcp) }},
		{"Dial", func(t *testing.T, h *channel.Host, _ net.Listener) net.Conn {
			c, err := h.Dial(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}},
	}
	for _, tr := range transports {
		for _, d := range dials {
			t.Run(tr.name+"/"+d.name, func(t *testing.T) {
				checkGoroutines(t)
				h, l, _ := startSession(t, tr)
				// The guest answers only after the client's EOF, so an
				// answer proves the half-close arrived.
				wait := serve(l, func(c net.Conn) {
					data, err := io.ReadAll(c)
					if err != nil {
						t.Errorf("guest read: %v", err)
						return
					}
					c.Write(data)
				})
				tcp := listenLoopback(t)
				ctx, cancel := context.WithCancel(t.Context())
				forwarded := make(chan error, 1)
				go func() { forwarded <- h.Forward(ctx, tcp) }()

				for _, size := range sizes {
					want := make([]byte, size)
					rand.NewChaCha8([32]byte{byte(size)}).Read(want)
					c := d.dial(t, h, tcp)
					if _, err := c.Write(want); err != nil {
						t.Fatalf("%d bytes: write: %v", size, err)
					}
					if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
						t.Fatalf("%d bytes: CloseWrite: %v", size, err)
					}
					got, err := io.ReadAll(c)
					if err != nil {
						t.Fatalf("%d bytes: read: %v", size, err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("%d bytes: echo of %d bytes differs", size, len(got))
					}
					c.Close()
				}
				cancel()
				if err := <-forwarded; err != nil {
					t.Errorf("Forward: %v", err)
				}
				h.Close()
				wait()
			})
		}
	}
}

// TestGuestHalfClosesFirst checks that the guest's EOF reaches the client
// while the client can still send.
func TestGuestHalfClosesFirst(t *testing.T) {
	checkGoroutines(t)
	h, l, _ := startSession(t, transports[2])
	got := make(chan string, 1)
	wait := serve(l, func(c net.Conn) {
		io.WriteString(c, "hello")
		c.(interface{ CloseWrite() error }).CloseWrite()
		b, err := io.ReadAll(c)
		if err != nil {
			t.Errorf("guest read: %v", err)
		}
		got <- string(b)
	})
	tcp := listenLoopback(t)
	ctx, cancel := context.WithCancel(t.Context())
	forwarded := make(chan error, 1)
	go func() { forwarded <- h.Forward(ctx, tcp) }()

	c := dialTCP(t, tcp)
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		t.Fatalf("client read %q, %v; want %q", b, err, "hello")
	}
	io.WriteString(c, "bye")
	c.CloseWrite()
	if g := <-got; g != "bye" {
		t.Errorf("guest read %q, want %q", g, "bye")
	}
	cancel()
	<-forwarded
	h.Close()
	wait()
}

// TestGuestEnds checks that the end of the guest's side ends Forward with an
// error, closes Done, closes connections in flight and fails Dial.
func TestGuestEnds(t *testing.T) {
	ends := []struct {
		name string
		end  func(l net.Listener, guestConn io.Closer)
	}{
		{"listener closed", func(l net.Listener, _ io.Closer) { l.Close() }},
		{"conn closed", func(_ net.Listener, guestConn io.Closer) { guestConn.Close() }},
	}
	for _, tr := range transports {
		for _, e := range ends {
			t.Run(tr.name+"/"+e.name, func(t *testing.T) {
				checkGoroutines(t)
				h, l, guestConn := startSession(t, tr)
				wait := serve(l, echo)
				tcp := listenLoopback(t)
				forwarded := make(chan error, 1)
				go func() { forwarded <- h.Forward(t.Context(), tcp) }()

				// A connection in flight: the guest has echoed a byte.
				c := dialTCP(t, tcp)
				buf := make([]byte, 1)
				if _, err := c.Write([]byte{1}); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}

				e.end(l, guestConn)
				err := <-forwarded
				if err == nil || !strings.Contains(err.Error(), "guest side of the channel ended") {
					t.Errorf("Forward = %v, want an error saying the guest side ended", err)
				}
				<-h.Done()
				// The client sees its connection reset, neither a hang nor
				// a clean end.
				if _, err := io.ReadAll(c); err == nil || !isReset(err) {
					t.Errorf("client read after the guest ended: %v, want connection reset", err)
				}
				if _, err := h.Dial(t.Context()); err == nil {
					t.Error("Dial after the guest ended succeeded")
				}
				if err := wait(); !errors.Is(err, net.ErrClosed) {
					t.Errorf("guest Accept: %v, want net.ErrClosed", err)
				}
			})
		}
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// TestHostClose checks that Host.Close fails the guest's Accept with
// net.ErrClosed and ends a running Forward.
func TestHostClose(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			checkGoroutines(t)
			h, l, _ := startSession(t, tr)
			wait := serve(l, echo)
			tcp := listenLoopback(t)
			forwarded := make(chan error, 1)
			go func() { forwarded <- h.Forward(t.Context(), tcp) }()

			if err := h.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := wait(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("guest Accept after Host.Close: %v, want net.ErrClosed", err)
			}
			if err := <-forwarded; !errors.Is(err, net.ErrClosed) {
				t.Errorf("Forward after Host.Close: %v, want net.ErrClosed", err)
			}
			<-h.Done()
		})
	}
}

// TestForwardStops checks that Forward returns nil when its context is done
// or its listener closed, closes the connections in flight and leaves the
// session usable.
func TestForwardStops(t *testing.T) {
	stops := []struct {
		name string
		stop func(cancel context.CancelFunc, tcp net.Listener)
	}{
		{"context done", func(cancel context.CancelFunc, _ net.Listener) { cancel() }},
		{"listener closed", func(_ context.CancelFunc, tcp net.Listener) { tcp.Close() }},
	}
	for _, s := range stops {
		t.Run(s.name, func(t *testing.T) {
			checkGoroutines(t)
			h, l, _ := startSession(t, transports[2])
			wait := serve(l, echo)
			tcp := listenLoopback(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			forwarded := make(chan error, 1)
			go func() { forwarded <- h.Forward(ctx, tcp) }()

			c := dialTCP(t, tcp)
			buf := make([]byte, 1)
			c.Write([]byte{1})
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			s.stop(cancel, tcp)
			if err := <-forwarded; err != nil {
				t.Errorf("Forward = %v, want nil", err)
			}
			if _, err := io.ReadAll(c); err != nil && !isReset(err) {
				t.Errorf("client read after Forward returned: %v", err)
			}
			if _, err := tcp.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept on the forwarded listener: %v, want net.ErrClosed", err)
			}
			select {
			case <-h.Done():
				t.Fatal("session ended with Forward")
			default:
			}
			d, err := h.Dial(t.Context())
			if err != nil {
				t.Fatalf("Dial after Forward returned: %v", err)
			}
			d.Write([]byte{2})
			if _, err := io.ReadFull(d, buf); err != nil || buf[0] != 2 {
				t.Errorf("echo after Forward returned: %v %v", buf, err)
			}
			d.Close()
			h.Close()
			wait()
		})
	}
}

func TestDialCancelled(t *testing.T) {
	checkGoroutines(t)
	h, _, _ := startSession(t, transports[2])
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.Dial(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestLargeTransfer sends a large blob both ways at once through Forward and
// compares digests.
func TestLargeTransfer(t *testing.T) {
	size := int64(256 << 20)
	if raceEnabled {
		size = 32 << 20
	}
	for _, tr := range transports[1:] {
		t.Run(tr.name, func(t *testing.T) {
			checkGoroutines(t)
			h, l, _ := startSession(t, tr)
			wait := serve(l, echo)
			tcp := listenLoopback(t)
			ctx, cancel := context.WithCancel(t.Context())
			forwarded := make(chan error, 1)
			go func() { forwarded <- h.Forward(ctx, tcp) }()

			c := dialTCP(t, tcp)
			sent := make(chan []byte, 1)
			go func() {
				hash := sha256.New()
				src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{7}), size), hash)
				if _, err := io.Copy(c, src); err != nil {
					t.Errorf("client write: %v", err)
				}
				c.CloseWrite()
				sent <- hash.Sum(nil)
			}()
			hash := sha256.New()
			n, err := io.Copy(hash, c)
			if err != nil {
				t.Fatalf("client read: %v", err)
			}
			if want := <-sent; n != size || !bytes.Equal(hash.Sum(nil), want) {
				t.Errorf("received %d bytes with sha256 %x, want %d bytes with sha256 %x", n, hash.Sum(nil), size, want)
			}
			cancel()
			<-forwarded
			h.Close()
			wait()
		})
	}
}

// BenchmarkForward measures one TCP connection through Forward over a unix
// socketpair, each way; the guest discards or produces the bytes.
func BenchmarkForward(b *testing.B) {
	const chunk = 1 << 20
	for _, dir := range []string{"upload", "download"} {
		b.Run(dir, func(b *testing.B) {
			h, l, _ := startSession(b, transports[2])
			wait := serve(l, func(c net.Conn) {
				if dir == "upload" {
					io.Copy(io.Discard, c)
					return
				}
				buf := make([]byte, chunk)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			})
			tcp := listenLoopback(b)
			ctx, cancel := context.WithCancel(b.Context())
			forwarded := make(chan error, 1)
			go func() { forwarded <- h.Forward(ctx, tcp) }()
			c := dialTCP(b, tcp)
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			b.ResetTimer()
			for range b.N {
				var err error
				if dir == "upload" {
					_, err = c.Write(buf)
				} else {
					_, err = io.ReadFull(c, buf)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			c.Close()
			cancel()
			<-forwarded
			h.Close()
			wait()
		})
	}
}

// TestKeepAlive checks that a guest that keeps its end of the stream open but
// no longer answers ends the session.
func TestKeepAlive(t *testing.T) {
	checkGoroutines(t)
	channel.SetKeepAlive(t, 10*time.Millisecond, 50*time.Millisecond)
	hostConn, guestConn := socketPair(t)
	defer guestConn.Close()
	h, err := channel.NewHost(hostConn)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tcp := listenLoopback(t)
	err = h.Forward(t.Context(), tcp)
	if err == nil || !strings.Contains(err.Error(), "keepalive") {
		t.Errorf("Forward with a silent guest = %v, want a keepalive error", err)
	}
	<-h.Done()
}
