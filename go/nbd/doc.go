// Package nbd is a Network Block Device server for tests: it serves one
// image file over a unix socket to QEMU (or qemu-io) and stands in for a
// disk with a volatile write cache, so that a test can cut the power and
// see what a real disk could have kept.
//
// It speaks the fixed newstyle handshake (NBD_OPT_EXPORT_NAME,
// NBD_OPT_INFO and NBD_OPT_GO; every other option is answered
// NBD_REP_ERR_UNSUP, so clients fall back to simple replies) and simple
// replies to READ, WRITE (with FUA), FLUSH, TRIM, WRITE_ZEROES and DISC,
// as the protocol document of the NBD project describes them.
//
// Writes stay in memory until a FLUSH, or until they are made with FUA;
// reads see them. PowerCut stops the server and writes back a random
// choice of the cached blocks, each in one of the versions it was written
// in since the last flush or not at all, as a disk whose cache wrote back
// some blocks in any order before it lost power.
package nbd
