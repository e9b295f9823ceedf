//go:build linux

package guest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// hostPollInterval is how often a disconnected virtio-serial port is
// looked at again: the port reports POLLHUP for as long as the host side
// is closed, so poll(2) cannot sleep until it opens.
const hostPollInterval = 20 * time.Millisecond

// openChannel opens the host-guest byte stream c and returns once the host
// is at the other end.
func openChannel(ctx context.Context, c Channel, logger *slog.Logger) (io.ReadWriteCloser, error) {
	switch c.Kind {
	case VirtioSerial:
		dev, err := findVirtioPort("/sys/class/virtio-ports", "/dev", c.Name)
		if err != nil {
			return nil, err
		}
		return openVirtioSerial(ctx, dev, logger)
	case Vsock:
		return acceptVsock(c.Port, logger)
	}
	return nil, fmt.Errorf("unknown channel kind %q", c.Kind)
}

// openVirtioSerial opens the port dev and waits for the host to connect:
// until then a read returns EOF and a write is lost.
func openVirtioSerial(ctx context.Context, dev string, logger *slog.Logger) (io.ReadWriteCloser, error) {
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dev, err)
	}
	logger.InfoContext(ctx, "waiting for the host on the channel", slog.String("device", dev))
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLOUT}}
		_, err := unix.Poll(fds, 0)
		if err != nil && err != unix.EINTR {
			unix.Close(fd)
			return nil, fmt.Errorf("poll %s: %w", dev, err)
		}
		if err == nil && fds[0].Revents&unix.POLLHUP == 0 {
			break
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			return nil, ctx.Err()
		case <-time.After(hostPollInterval):
		}
	}
	logger.InfoContext(ctx, "host connected", slog.String("device", dev))
	// The descriptor is non-blocking, so os.NewFile hands it to the
	// runtime poller and a Close interrupts a pending Read.
	return os.NewFile(uintptr(fd), dev), nil
}

// acceptVsock listens on the vsock port and returns the first connection.
func acceptVsock(port uint32, logger *slog.Logger) (io.ReadWriteCloser, error) {
	lfd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("vsock socket (is the kernel built with VIRTIO_VSOCKETS?): %w", err)
	}
	defer unix.Close(lfd)
	if err := unix.Bind(lfd, &unix.SockaddrVM{CID: unix.VMADDR_CID_ANY, Port: port}); err != nil {
		return nil, fmt.Errorf("vsock bind port %d: %w", port, err)
	}
	if err := unix.Listen(lfd, 1); err != nil {
		return nil, fmt.Errorf("vsock listen port %d: %w", port, err)
	}
	logger.Info("waiting for the host on the channel", slog.Uint64("vsock_port", uint64(port)))
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("vsock accept port %d: %w", port, err)
		}
		logger.Info("host connected", slog.Uint64("vsock_port", uint64(port)))
		return os.NewFile(uintptr(fd), fmt.Sprintf("vsock:%d", port)), nil
	}
}
