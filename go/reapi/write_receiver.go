package reapi

import (
	"time"

	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/rpcstatus"
)

// writeReceiver receives the requests of a Write stream on a goroutine of
// its own, one at a time as the handler asks, so that the handler can give
// up on a stream that stops delivering data: grpc's Recv cannot be given a
// deadline, and a blocked Recv ends only with the stream. Only the handler
// calls recv; close must follow once the handler is done.
type writeReceiver struct {
	stream  bspb.ByteStream_WriteServer
	stall   time.Duration
	timer   *time.Timer
	want    chan struct{}
	next    chan received
	done    chan struct{}
	started bool
	// fresh is set when the clock restarts at the next recv: at first,
	// and after each request that carried data.
	fresh bool
	// stalled is set when recv gave up; the upload is then dropped rather
	// than kept for resumption.
	stalled bool
}

// received is the outcome of one Recv.
type received struct {
	req *bspb.WriteRequest
	err error
}

func newWriteReceiver(stream bspb.ByteStream_WriteServer, stall time.Duration) *writeReceiver {
	return &writeReceiver{
		stream: stream,
		stall:  stall,
		want:   make(chan struct{}),
		next:   make(chan received),
		done:   make(chan struct{}),
		fresh:  true,
	}
}

// recv returns the stream's next request, or DEADLINE_EXCEEDED when the
// server has waited for stall in recv without getting a request that
// carries data (or finishes the write). Only time spent waiting for the
// client counts, so a handler held up on its side (a slow disk, a zstd
// decoder slot) never stalls its client; empty requests do not restart the
// clock, so a client cannot hold an upload open by sending nothing often.
func (r *writeReceiver) recv() (*bspb.WriteRequest, error) {
	if r.stalled {
		return nil, rpcstatus.Newf(codes.DeadlineExceeded, "upload delivered no data for %v", r.stall)
	}
	if !r.started {
		r.started = true
		go r.loop()
	}
	if r.fresh {
		if r.timer == nil {
			r.timer = time.NewTimer(r.stall)
		} else {
			r.timer.Reset(r.stall)
		}
		r.fresh = false
	}
	r.want <- struct{}{}
	select {
	case m := <-r.next:
		r.fresh = m.err == nil && (len(m.req.GetData()) > 0 || m.req.GetFinishWrite())
		return m.req, m.err
	case <-r.timer.C:
		r.stalled = true
		return nil, rpcstatus.Newf(codes.DeadlineExceeded, "upload delivered no data for %v", r.stall)
	}
}

// loop does one Recv per request of recv. After a stall it may still be in
// Recv when the handler returns; grpc ends that Recv as it closes the
// stream, and done lets the goroutine exit instead of delivering.
func (r *writeReceiver) loop() {
	for {
		select {
		case <-r.want:
		case <-r.done:
			return
		}
		req, err := r.stream.Recv()
		select {
		case r.next <- received{req, err}:
		case <-r.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// close releases the receiving goroutine.
func (r *writeReceiver) close() {
	if r.timer != nil {
		r.timer.Stop()
	}
	close(r.done)
}
