//go:build linux

package qemu

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/actiond/actiond/go/vm"
)

// termGrace is how long QEMU gets to exit after SIGTERM (it flushes its
// block layer to the image files) before it is killed.
const termGrace = 5 * time.Second

// Options are the QEMU-specific settings of a Machine.
type Options struct {
	// Binary is the QEMU system emulator; empty means DefaultBinary.
	Binary string
	// Accel is the accelerator, usually from ProbeAccel.
	Accel Accel
	// Cmdline is the kernel command line.
	Cmdline string
	// ChannelSocket is the unix socket path the channel is served on.
	ChannelSocket string
	// Logger receives QEMU's own messages (its stderr), one per line.
	Logger *slog.Logger
	// CASDrive, when set, is the CAS disk's QEMU file name in place of
	// the Config's CASImage: a block URL such as
	// nbd+unix:///?socket=PATH. The power-loss test serves the disk with a
	// write cache it can cut this way; serve-vm never sets it.
	CASDrive string
}

// Machine is a vm.Machine on QEMU.
type Machine struct {
	cfg  vm.Config
	opts Options

	stderr *vm.Console // QEMU's own messages, whose tail explains an exit
	cmd    *exec.Cmd
	done   chan struct{} // closed when QEMU exited
	err    error         // why, once done is closed
	once   sync.Once
}

var _ vm.Machine = (*Machine)(nil)

// New returns a Machine for cfg, not started. cfg must be valid
// (vm.Config.Validate) and cfg.CASImage locked (vm.OpenCASImage).
func New(cfg vm.Config, opts Options) *Machine {
	if opts.Binary == "" {
		opts.Binary = DefaultBinary(cfg.Arch)
	}
	if cfg.Console == nil {
		cfg.Console = io.Discard
	}
	return &Machine{
		cfg:    cfg,
		opts:   opts,
		stderr: vm.NewConsole(opts.Logger, "qemu", 10),
		done:   make(chan struct{}),
	}
}

// Argv is the full QEMU command line, for logs.
func (m *Machine) Argv() []string {
	return append([]string{m.opts.Binary}, argv(argvOptions{
		Arch:         m.cfg.Arch,
		Accel:        m.opts.Accel,
		Kernel:       m.cfg.Kernel,
		Initramfs:    m.cfg.Initramfs,
		Cmdline:      m.opts.Cmdline,
		MemoryMiB:    m.cfg.MemoryMiB,
		CPUs:         m.cfg.CPUs,
		CASImage:     cmp.Or(m.opts.CASDrive, m.cfg.CASImage),
		RuntimeImage: m.cfg.RuntimeImage,
	})...)
}

// Start listens on the channel socket and starts QEMU with the listening
// socket as the channel's chardev: Channel's connection is then queued
// until the guest side is up, with no retry and no race against QEMU
// creating the socket.
func (m *Machine) Start(ctx context.Context) error {
	err := errors.New("qemu: already started")
	m.once.Do(func() { err = m.start() })
	return err
}

func (m *Machine) start() error {
	path := m.opts.ChannelSocket
	// The state directory is locked, so a socket file there is stale.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the stale channel socket: %w", err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("channel socket: %w", err)
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	l.Close()
	if err != nil {
		return fmt.Errorf("channel socket: %w", err)
	}
	defer f.Close()

	argv := m.Argv()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = m.cfg.Console
	cmd.Stderr = m.stderr
	cmd.ExtraFiles = []*os.File{f} // channelFD
	if err := startDying(cmd); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s not found: install QEMU (apt-get install qemu-system-x86 qemu-system-arm) or pass --qemu", m.opts.Binary)
		}
		return fmt.Errorf("starting %s: %w", m.opts.Binary, err)
	}
	m.cmd = cmd
	go func() {
		err := cmd.Wait()
		if c, ok := m.cfg.Console.(io.Closer); ok {
			c.Close()
		}
		m.stderr.Close()
		if err != nil {
			err = fmt.Errorf("%s: %w; %s", m.opts.Binary, err, vm.FormatTail("qemu", m.stderr.Tail()))
		}
		os.Remove(path)
		m.err = err
		close(m.done)
	}()
	return nil
}

// Channel connects to the channel socket.
func (m *Machine) Channel(ctx context.Context) (io.ReadWriteCloser, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", m.opts.ChannelSocket)
}

// Wait waits for QEMU to exit. A guest that powers off or reboots makes
// QEMU exit with status 0, and Wait return nil.
func (m *Machine) Wait(ctx context.Context) error {
	select {
	case <-m.done:
		return m.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill kills QEMU with SIGKILL, as a power cut stops a machine: the
// guest gets no chance to flush or unmount its disks, nor QEMU to write
// back its own caches. It returns once QEMU exited. Tests use it.
func (m *Machine) Kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
}

// Stop waits for the guest to power off until ctx is done, then sends QEMU
// SIGTERM and, after termGrace, SIGKILL.
func (m *Machine) Stop(ctx context.Context) error {
	if m.cmd == nil {
		return nil
	}
	select {
	case <-m.done:
		return nil
	default:
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
		return errors.New("the guest did not power off in time; QEMU was terminated")
	case <-time.After(termGrace):
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	return errors.New("the guest did not power off in time and QEMU ignored SIGTERM; QEMU was killed")
}
