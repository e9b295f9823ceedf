package statuspage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/actiond/actiond/go/cli"
	"github.com/actiond/actiond/go/statusrpc"
)

// Command is the `status` command of binary: it asks a running daemon (or
// a serve-vm host, which forwards to its guest) for its status over gRPC
// and prints it. It returns the exit status: 0, 1 when the daemon cannot
// be reached, 2 for bad arguments.
func Command(binary string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(binary+" status", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8980", "the daemon's gRPC `address` (host:port)")
	last := fs.Int("last", 20, "how many finished actions to list")
	asJSON := fs.Bool("json", false, "print the status snapshot as JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the daemon")
	tlsCA := fs.String("tls-ca", "", "speak TLS, trusting the daemon's certificate by this CA `file` (PEM; the daemon's own certificate when self-signed)")
	tlsCert := fs.String("tls-client-cert", "", "client certificate `file` (PEM) for a daemon started with --tls-client-ca")
	tlsKey := fs.String("tls-client-key", "", "client key `file` (PEM) for --tls-client-cert")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s status [flags]\n\nPrints what the status page shows: the running and queued actions, the last finished ones, the CAS and the runtimes.\n\nFlags:\n", binary)
		fs.PrintDefaults()
	}
	if exit, ok := cli.ParseFlags(fs, args, binary+" status", stderr); !ok {
		return exit
	}
	creds, err := clientCredentials(*tlsCA, *tlsCert, *tlsKey)
	if err != nil {
		fmt.Fprintf(stderr, "%s status: %v\n", binary, err)
		return 2
	}
	conn, err := grpc.NewClient("passthrough:///"+*addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		fmt.Fprintf(stderr, "%s status: %v\n", binary, err)
		return 2
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	snap, err := statusrpc.NewClient(conn).Snapshot(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%s status: no daemon answered on %s: %v\n(start one with `%s serve`, or give its address with --addr)\n", binary, *addr, err, binary)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(snap); err != nil {
			return 1
		}
		return 0
	}
	if err := WriteText(stdout, snap, *last); err != nil {
		return 1
	}
	return 0
}

// clientCredentials are plain gRPC without a CA, else TLS trusting the CA
// in caFile and presenting the client certificate when one is given.
func clientCredentials(caFile, certFile, keyFile string) (credentials.TransportCredentials, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("give --tls-client-cert and --tls-client-key together")
	}
	if caFile == "" {
		if certFile != "" {
			return nil, errors.New("--tls-client-cert needs --tls-ca")
		}
		return insecure.NewCredentials(), nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", caFile)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-cert %s, --tls-client-key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}
