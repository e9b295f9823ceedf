package channel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
)

// errHostClosed is why Dial and Forward fail after Host.Close.
var errHostClosed = fmt.Errorf("channel closed by the host: %w", net.ErrClosed)

// Host is the host side of one session over conn: it opens streams, the guest
// accepts them.
type Host struct {
	session *yamux.Session
	closed  atomic.Bool
	// done is closed once the session has ended and cause is set.
	done  chan struct{}
	cause error
}

// NewHost starts the host side of a session over conn. The guest side
// (Listen) may start later: what the host sends waits in conn. On error conn
// is left open.
func NewHost(conn io.ReadWriteCloser) (*Host, error) {
	s, err := yamux.Client(conn, newConfig())
	if err != nil {
		return nil, fmt.Errorf("start channel session: %w", err)
	}
	h := &Host{session: s, done: make(chan struct{})}
	go h.watch()
	return h, nil
}

// watch records why the session ended and closes done. The guest never opens
// streams, so Accept only returns when the session ends, with its cause;
// a stream the guest opens anyway is refused.
func (h *Host) watch() {
	defer close(h.done)
	for {
		st, err := h.session.AcceptStream()
		if err == nil {
			_ = st.Close()
			continue
		}
		if h.session.IsClosed() {
			h.cause = err
			return
		}
	}
}

// Done is closed when the session ends (e.g. the guest died).
func (h *Host) Done() <-chan struct{} {
	return h.done
}

// Close ends the session and closes conn; the guest's listener then fails,
// which tells it to shut down.
func (h *Host) Close() error {
	h.closed.Store(true)
	err := h.session.Close()
	<-h.done
	if err != nil {
		return fmt.Errorf("close channel session: %w", err)
	}
	return nil
}

// ended waits for watch to record the cause of the session's end and returns
// the error that Dial and Forward report for it.
func (h *Host) ended() error {
	<-h.done
	if h.closed.Load() {
		return errHostClosed
	}
	return fmt.Errorf("guest side of the channel ended: %w", h.cause)
}

// Dial opens a new stream to the guest, for the host's own calls (e.g. a
// readiness GetCapabilities through grpc.WithContextDialer). It returns before
// the guest has accepted the stream: what is written waits until it does.
// The returned conn has a CloseWrite for half-closing it.
func (h *Host) Dial(ctx context.Context) (net.Conn, error) {
	s, err := h.open(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// open is Dial with the concrete type.
func (h *Host) open(ctx context.Context) (*stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open channel stream: %w", err)
	}
	type opened struct {
		st  *yamux.Stream
		err error
	}
	// OpenStream blocks, with no context, while AcceptBacklog streams wait
	// for the guest's acknowledgement; it returns when the session ends at
	// the latest.
	c := make(chan opened, 1)
	go func() {
		st, err := h.session.OpenStream()
		c <- opened{st, err}
	}()
	select {
	case o := <-c:
		if o.err != nil {
			if h.session.IsClosed() {
				return nil, fmt.Errorf("open channel stream: %w", h.ended())
			}
			return nil, fmt.Errorf("open channel stream: %w", o.err)
		}
		return &stream{Stream: o.st}, nil
	case <-ctx.Done():
		go func() {
			if o := <-c; o.err == nil {
				_ = o.st.Close()
			}
		}()
		return nil, fmt.Errorf("open channel stream: %w", ctx.Err())
	}
}

// Forward accepts connections on l (Bazel's TCP connections) and pumps each,
// both ways with half-close, through a new stream until ctx is done, l is
// closed or the session ends. It closes l and every connection in flight
// before it returns, and returns nil when ctx is done or l was closed, and an
// error saying that the guest side ended when the session did. A failure of
// one connection closes that connection only.
func (h *Host) Forward(ctx context.Context, l net.Listener) error {
	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-fctx.Done():
		case <-h.done:
		}
		_ = l.Close()
	})
	err := h.acceptLoop(fctx, l, &wg)
	cancel()
	wg.Wait()
	switch {
	case ctx.Err() != nil:
		return nil
	case isClosed(h.done):
		return h.ended()
	case errors.Is(err, net.ErrClosed):
		return nil
	default:
		return fmt.Errorf("forward to channel: %w", err)
	}
}

// acceptLoop starts a pump for each connection accepted on l until Accept
// fails with anything but running out of file descriptors, which it waits out
// as net/http does.
func (h *Host) acceptLoop(ctx context.Context, l net.Listener, wg *sync.WaitGroup) error {
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		if err != nil {
			return err
		}
		backoff = 0
		wg.Go(func() {
			s, err := h.open(ctx)
			if err != nil {
				_ = c.Close()
				return
			}
			pump(ctx, c, s)
		})
	}
}

// isClosed reports whether c is closed.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
