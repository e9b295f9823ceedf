// Package statuspage serves what a person wants to see of a running
// daemon on its metrics listener: a self-refreshing HTML page with the
// actions running and queued, the last ones finished with their stage
// times and stderr, the CAS's size against its limit, the runtimes, the
// uptime and the version; the same as JSON; the stderr blobs it links to;
// and the Prometheus metrics. It also renders a Snapshot for a terminal.
// The page is rendered on the server and uses no external assets, so it
// works offline and needs no JavaScript.
package statuspage
