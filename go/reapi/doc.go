// Package reapi serves the REAPI v2 storage services over gRPC:
// Capabilities, ContentAddressableStorage, ByteStream and ActionCache. The
// Execution service lives elsewhere and registers on the same grpc.Server; it
// only tells this package, through Options.ExecutionEnabled, to advertise
// execution capabilities.
//
// Every instance name maps to the one store. Only SHA-256 digests are
// accepted; zstd is supported for compressed-blobs ByteStream resources and
// for batch requests.
package reapi
