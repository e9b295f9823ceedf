package daemon_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/daemon"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/reapi/reapitest"
)

// startDaemon serves a daemon on a loopback port and returns a client
// connection and a stop function that waits for Serve to return.
func startDaemon(t *testing.T, cfg daemon.Config) (*grpc.ClientConn, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("daemon.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- d.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		conn.Close()
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(daemon.ShutdownGrace + 5*time.Second):
			t.Fatal("Serve did not return after the context was cancelled")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return conn, stop
}

func TestCapabilitiesFollowExecution(t *testing.T) {
	tests := []struct {
		name      string
		execution bool
	}{
		{"cache only", false},
		{"with execution", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, stop := startDaemon(t, daemon.Config{
				Root:      t.TempDir(),
				Execution: tc.execution,
				Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			caps, err := repb.NewCapabilitiesClient(conn).GetCapabilities(context.Background(), &repb.GetCapabilitiesRequest{})
			if err != nil {
				t.Fatalf("GetCapabilities: %v", err)
			}
			if got := caps.GetExecutionCapabilities().GetExecEnabled(); got != tc.execution {
				t.Errorf("exec_enabled = %v, want %v", got, tc.execution)
			}
			if lo := caps.GetLowApiVersion(); lo.GetMajor() != 2 || lo.GetMinor() != 0 {
				t.Errorf("low_api_version = %v, want 2.0 (Bazel 4.2.3 speaks 2.0 only)", lo)
			}
			if err := stop(); err != nil {
				t.Errorf("Serve after stop = %v, want nil", err)
			}
		})
	}
}

// TestAcknowledgedBlobsSurviveRestart stores one blob in a batch and one
// through ByteStream, larger than gRPC's flow-control windows and written
// twice, so that the second write meets a blob the daemon has and ends
// while the client still sends (reapitest.WriteBlob accepts that end).
func TestAcknowledgedBlobsSurviveRestart(t *testing.T) {
	root := t.TempDir()
	cfg := daemon.Config{Root: root, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	small := []byte("acknowledged before the restart")
	large := bytes.Repeat([]byte("0123456789abcdef"), (32<<20)/16)

	conn, stop := startDaemon(t, cfg)
	reapitest.Upload(t.Context(), t, conn, small)
	for range 2 {
		reapitest.WriteBlob(t.Context(), t, conn, large)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	conn, _ = startDaemon(t, cfg)
	if got := reapitest.ReadBlob(t, conn, digest.OfBytes(small).Proto()); got != string(small) {
		t.Errorf("after restart got %q, want %q", got, small)
	}
	missing, err := repb.NewContentAddressableStorageClient(conn).FindMissingBlobs(t.Context(), &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{digest.OfBytes(large).Proto()}})
	if err != nil || len(missing.GetMissingBlobDigests()) != 0 {
		t.Errorf("FindMissingBlobs of the blob written through ByteStream, after restart = %v, %v; want it present", missing, err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name string
		cfg  daemon.Config
	}{
		{"no logger", daemon.Config{Root: t.TempDir()}},
		{"no root", daemon.Config{Logger: logger}},
		{"image and dir", daemon.Config{Root: t.TempDir(), Logger: logger, RuntimeImage: "a.sqfs", RuntimeDir: "b"}},
		{"missing image", daemon.Config{Root: t.TempDir(), Logger: logger, Execution: true, RuntimeImage: "/nonexistent/rt.sqfs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := daemon.New(context.Background(), tc.cfg); err == nil {
				t.Errorf("New(%+v) = nil error, want one", tc.cfg)
			}
		})
	}
}

// TestRootPermissions: a root other users may write is fixed when the
// daemon owns it, and refused with FAILED_PRECONDITION when it does not.
func TestRootPermissions(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Run("world-writable, ours", func(t *testing.T) {
		root := t.TempDir()
		if err := os.Chmod(root, 0o777); err != nil {
			t.Fatal(err)
		}
		_, stop := startDaemon(t, daemon.Config{Root: root, Logger: logger})
		stop()
		fi, err := os.Stat(root)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("root mode %#o, want 0755", fi.Mode().Perm())
		}
	})
	t.Run("another user's", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give the directory to another user")
		}
		root := t.TempDir()
		if err := os.Chown(root, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		_, err := daemon.New(context.Background(), daemon.Config{Root: root, Logger: logger})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("New = %v, want FAILED_PRECONDITION naming the owner", err)
		}
	})
}
