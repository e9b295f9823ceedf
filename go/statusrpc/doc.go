// Package statusrpc carries a daemon's status Snapshot and its metrics over
// gRPC, beside the REAPI services on the same port: the `status` command
// reads it, and in VM mode the host's status page and metrics listener read
// the guest's through the channel. The service is declared by hand (no
// .proto): its two methods take google.protobuf.Empty and answer a
// google.protobuf.BytesValue holding JSON (Snapshot) or Prometheus'
// length-delimited protobuf exposition (Metrics).
package statusrpc
