package vm_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/actiond/actiond/go/vm"
)

// fakeMachine is a VM that prints console lines when started and exits
// when told to, or when the session closes if it obeys shutdowns.
type fakeMachine struct {
	console   io.Writer
	bootLines string
	obeys     bool // powers off when the session closes
	session   *fakeSession

	exit     chan struct{}
	exitOnce sync.Once
	mu       sync.Mutex
	stopped  bool // Stop was called
	forced   bool // Stop had to force
}

func newFakeMachine(console io.Writer, bootLines string) *fakeMachine {
	return &fakeMachine{console: console, bootLines: bootLines, exit: make(chan struct{})}
}

func (m *fakeMachine) powerOff() { m.exitOnce.Do(func() { close(m.exit) }) }

func (m *fakeMachine) Start(ctx context.Context) error {
	io.WriteString(m.console, m.bootLines)
	return nil
}

func (m *fakeMachine) Channel(ctx context.Context) (io.ReadWriteCloser, error) {
	a, _ := net.Pipe()
	return a, nil
}

func (m *fakeMachine) Wait(ctx context.Context) error {
	select {
	case <-m.exit:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *fakeMachine) Stop(ctx context.Context) error {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	select {
	case <-m.exit:
		return nil
	default:
	}
	select {
	case <-m.exit:
		return nil
	case <-ctx.Done():
	}
	m.mu.Lock()
	m.forced = true
	m.mu.Unlock()
	m.powerOff()
	return errors.New("forced")
}

// fakeSession dials a gRPC server that answers GetCapabilities, or
// connections that never answer when guest is nil.
type fakeSession struct {
	guest   *bufconn.Listener
	machine *fakeMachine
	done    chan struct{}
	once    sync.Once
}

func (s *fakeSession) Dial(ctx context.Context) (net.Conn, error) {
	if s.guest == nil {
		a, _ := net.Pipe() // nobody reads: the guest never answers
		return a, nil
	}
	return s.guest.DialContext(ctx)
}

func (s *fakeSession) Forward(ctx context.Context, l net.Listener) error {
	<-ctx.Done()
	return nil
}

func (s *fakeSession) Done() <-chan struct{} { return s.done }

func (s *fakeSession) Close() error {
	s.once.Do(func() {
		close(s.done)
		if s.machine.obeys {
			s.machine.powerOff()
		}
	})
	return nil
}

type capabilities struct {
	repb.UnimplementedCapabilitiesServer
}

func (capabilities) GetCapabilities(context.Context, *repb.GetCapabilitiesRequest) (*repb.ServerCapabilities, error) {
	return &repb.ServerCapabilities{}, nil
}

// answeringGuest serves GetCapabilities on an in-memory listener.
func answeringGuest(t *testing.T) *bufconn.Listener {
	lis := bufconn.Listen(1 << 16)
	srv := grpc.NewServer()
	repb.RegisterCapabilitiesServer(srv, capabilities{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis
}

type harness struct {
	machine   *fakeMachine
	session   *fakeSession
	cfg       vm.ServeConfig
	listening chan net.Listener
	logs      *bytes.Buffer
}

func newHarness(t *testing.T, guest *bufconn.Listener, bootLines string) *harness {
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, nil))
	console := vm.NewConsole(logger, "guest", 5)
	m := newFakeMachine(console, bootLines)
	h := &harness{machine: m, listening: make(chan net.Listener, 1), logs: logs}
	h.cfg = vm.ServeConfig{
		Machine: m,
		NewSession: func(conn io.ReadWriteCloser) (vm.Session, error) {
			h.session = &fakeSession{guest: guest, machine: m, done: make(chan struct{})}
			m.session = h.session
			return h.session, nil
		},
		Listen: func() (net.Listener, error) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err == nil {
				h.listening <- l
			}
			return l, err
		},
		Console:       console,
		StartTimeout:  time.Hour,
		ShutdownGrace: time.Hour,
		Logger:        logger,
	}
	return h
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func wantErrContaining(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Serve() = nil, want an error with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestServeStartTimeoutReportsConsole(t *testing.T) {
	h := newHarness(t, nil, "mounting /dev/vda\nwaiting for something that never comes\n")
	h.cfg.StartTimeout = 200 * time.Millisecond
	err := vm.Serve(context.Background(), h.cfg)
	wantErrContaining(t, err, "did not answer within --start-timeout-ms=200", "raise it",
		"the guest console's last lines:\n  mounting /dev/vda\n  waiting for something that never comes")
	if !h.machine.stopped {
		t.Error("the machine was not stopped")
	}
}

func TestServeVMExitDuringStart(t *testing.T) {
	tests := []struct {
		name, console string
		want          []string
		wantStep      string // a *vm.GuestError for this step
	}{
		{"guest step line", "Booting from ROM..time=x level=INFO msg=disks cas=/dev/vda\nactiond guest: cas: the CAS disk /dev/vda holds a xfs filesystem that is not ext4\nreboot: Power down\n",
			[]string{"the guest failed before answering: cas: the CAS disk /dev/vda holds a xfs filesystem that is not ext4;", "reboot: Power down"}, "cas"},
		{"daemon line before PID 1's", "actiond guest: daemon: opening the CAS: permission denied\nactiond guest: daemon: the daemon exited with status 1\n",
			[]string{"the guest failed before answering: daemon: opening the CAS: permission denied;"}, "daemon"},
		{"initramfs the kernel rejects", "Initramfs unpacking failed: invalid magic at start of compressed archive\nKernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n",
			[]string{"the VM exited before the guest answered (the guest powered off or rebooted; the kernel could not unpack the initramfs: rebuild --initramfs with vm/build_initramfs.sh)", "Initramfs unpacking failed"}, ""},
		{"no working init", "Failed to execute /init (error -8)\nKernel panic - not syncing: No working init found.  Try passing init= option to kernel.\n",
			[]string{"the kernel could not run the initramfs's /init: rebuild --initramfs with vm/build_initramfs.sh for this --arch"}, ""},
		{"out of memory", "Out of memory and no killable processes...\nKernel panic - not syncing: System is deadlocked on memory\n",
			[]string{"the guest ran out of memory: raise --memory-mib"}, ""},
		{"silent reset", "SeaBIOS (version 1.16.2)\nBooting from ROM...\n",
			[]string{"the VM exited before the guest answered (the guest powered off or rebooted); the guest console's last lines:\n  SeaBIOS"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil, tc.console)
			h.machine.powerOff()
			err := vm.Serve(context.Background(), h.cfg)
			wantErrContaining(t, err, tc.want...)
			var ge *vm.GuestError
			if got := errors.As(err, &ge); got != (tc.wantStep != "") || got && ge.Step != tc.wantStep {
				t.Errorf("errors.As(%v, *GuestError) = %v (%+v), want step %q", err, got, ge, tc.wantStep)
			}
		})
	}
}

func TestServeStopRequestedDuringBootWaitsForTheGuest(t *testing.T) {
	h := newHarness(t, answeringGuest(t), "booting\n")
	h.machine.obeys = true
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // SIGTERM before the guest answered
	if err := vm.Serve(ctx, h.cfg); err != nil {
		t.Fatalf("Serve() = %v, want nil", err)
	}
	if h.machine.forced {
		t.Error("the guest was forced down instead of asked to stop once it answered")
	}
	select {
	case l := <-h.listening:
		l.Close()
		t.Error("Serve listened though it was stopped before the guest answered")
	default:
	}
	if !strings.Contains(h.logs.String(), "the guest powered off") {
		t.Errorf("the log does not say the guest powered off:\n%s", h.logs)
	}
}

// serve runs Serve until it listens and returns its result channel.
func (h *harness) serve(t *testing.T, ctx context.Context) chan error {
	result := make(chan error, 1)
	go func() { result <- vm.Serve(ctx, h.cfg) }()
	select {
	case <-h.listening:
	case err := <-result:
		t.Fatalf("Serve returned before listening: %v", err)
	}
	return result
}

func TestServeStopsTheGuestCleanly(t *testing.T) {
	h := newHarness(t, answeringGuest(t), "booted\n")
	h.machine.obeys = true
	ctx, cancel := context.WithCancel(context.Background())
	result := h.serve(t, ctx)
	cancel()
	if err := <-result; err != nil {
		t.Fatalf("Serve() = %v, want nil", err)
	}
	if h.machine.forced {
		t.Error("the guest was forced down though it obeys the shutdown request")
	}
	if !strings.Contains(h.logs.String(), "actiond ready") || !strings.Contains(h.logs.String(), "boot_to_ready=") {
		t.Errorf("no ready record with the boot time in the log:\n%s", h.logs)
	}
}

func TestServeForcesAGuestThatIgnoresShutdown(t *testing.T) {
	h := newHarness(t, answeringGuest(t), "booted\nI will not stop\n")
	h.cfg.ShutdownGrace = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	result := h.serve(t, ctx)
	cancel()
	wantErrContaining(t, <-result, "did not shut down cleanly", "I will not stop")
	if !h.machine.forced {
		t.Error("the machine was not forced down")
	}
}

func TestServeVMExitWhileServing(t *testing.T) {
	h := newHarness(t, answeringGuest(t), "booted\nKernel panic - not syncing: oops\n")
	result := h.serve(t, context.Background())
	h.machine.powerOff()
	wantErrContaining(t, <-result, "the VM exited while serving", "Kernel panic - not syncing: oops")
}

func TestServeChannelEndWhileServing(t *testing.T) {
	h := newHarness(t, answeringGuest(t), "booted\n")
	h.cfg.ShutdownGrace = time.Millisecond
	result := h.serve(t, context.Background())
	h.session.Close()
	wantErrContaining(t, <-result, "the channel to the guest ended while serving")
}

// A guest whose daemon fails ends the channel and then powers off: the
// error is its step line, read once the VM exited.
func TestServeGuestFailureWhileServing(t *testing.T) {
	h := newHarness(t, answeringGuest(t), "booted\n")
	h.machine.obeys = true
	result := h.serve(t, context.Background())
	io.WriteString(h.cfg.Console, "actiond guest: serve: accepting: broken pipe\nactiond guest: daemon: the daemon exited with status 1\n")
	h.session.Close()
	err := <-result
	wantErrContaining(t, err, "the guest failed while serving: serve: accepting: broken pipe;")
	var ge *vm.GuestError
	if !errors.As(err, &ge) || ge.Step != "serve" {
		t.Errorf("errors.As(%v, *GuestError) = %+v, want step serve", err, ge)
	}
}
