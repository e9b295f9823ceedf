// Package channel carries many gRPC connections over one byte stream between
// a host and the guest VM it runs: a virtio-serial port under QEMU, a vsock
// connection under Virtualization.framework, or anything else that is an
// io.ReadWriteCloser.
//
// # Why a multiplexer over the stream
//
// Bazel opens several gRPC connections at once, but a virtio-serial port is a
// single ordered byte stream with no notion of connections. A yamux session
// (github.com/hashicorp/yamux) over the stream gives independent streams with
// their own flow control and half-close, without inventing a protocol. The
// guest serves gRPC on the session as on any net.Listener (Listen); the host
// opens one stream per client connection (Host.Forward, Host.Dial). Over vsock
// one connection per client would be possible, but keeping the session there
// too keeps one code path and one set of tests.
//
// # Why the host never parses gRPC
//
// The host pumps bytes between each accepted TCP connection and its stream,
// both ways, and passes half-closes through. It keeps no CAS, decodes no
// HTTP/2 and needs no knowledge of the REAPI, so everything that understands
// requests runs in the guest, and the host side is small enough to build for
// macOS without the executor.
//
// # Half-close
//
// yamux v0.1.2 streams have no CloseWrite: Stream.Close sends a FIN and keeps
// reading until the peer's FIN, which is a half-close. The streams this
// package hands out wrap it so that CloseWrite sends the FIN and Close also
// unblocks pending reads and writes, as net.Conn's contract asks. The pump
// forwards an EOF on either side as a half-close on the other (CloseWrite on
// the TCP side, a FIN on the stream) and closes the connection once both
// directions have ended, so a client that writes, half-closes and then reads
// gets the whole answer.
//
// # Shutdown
//
// The session is the guest's lifeline. When the host closes it (Host.Close),
// or the stream ends because the host process died, the guest's Accept fails
// with an error wrapping net.ErrClosed, which the guest takes as the order to
// shut down. When the guest side ends, Host.Done is closed and Host.Forward
// returns an error saying so. Keepalive pings notice a peer that is alive as a
// stream but no longer answers; the host may start its side before the guest
// does, since the bytes it sends wait in the stream, as long as the guest
// answers the first ping within the keepalive interval plus the write timeout
// (see newConfig).
package channel
