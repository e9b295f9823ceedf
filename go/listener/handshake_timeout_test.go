package listener_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/actiond/actiond/go/listener"
	"github.com/actiond/actiond/go/listener/listenertest"
)

// TestSilentClientIsCutOff connects without ever starting a handshake: the
// server's read must fail once the handshake timeout passes, and the
// client must see its connection closed.
func TestSilentClientIsCutOff(t *testing.T) {
	ca := listenertest.NewCA(t, "actiond test CA")
	server := ca.Server(t)
	cfg, err := listener.TLSFlags{Cert: server.CertFile, Key: server.KeyFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := listener.ListenWithTimeout("127.0.0.1:0", cfg, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	client, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		_, err := conn.Read(make([]byte, 1))
		served <- err
	}()
	select {
	case err := <-served:
		if err == nil {
			t.Fatal("a read on a connection that never shook hands succeeded")
		}
	case <-time.After(time.Minute):
		t.Fatal("the server still waits for a silent client's handshake after a minute")
	}
	if err := client.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(client); err != nil {
		t.Fatalf("the silent client's connection was not closed: %v", err)
	}
}
