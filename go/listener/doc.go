// Package listener opens the TCP listener Bazel connects to, and decides
// whether an address may be served in the clear.
//
// A loopback address (127.0.0.0/8, ::1, localhost) is reachable only from
// this machine, so it may be served without TLS. Any other address, an
// empty host (all interfaces) included, exposes a remote executor, which
// runs whatever a client sends, to the network: it needs a server
// certificate (--tls-cert, --tls-key) and either a client CA
// (--tls-client-ca), which admits only clients whose certificate it
// signed, or --insecure-no-client-auth, which says in its name that any
// client that can reach the port may run actions.
package listener
