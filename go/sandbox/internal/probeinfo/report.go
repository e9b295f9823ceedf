// Package probeinfo holds the report that the sandbox tests' probe helper
// (testdata/probe) prints with "probe info", shared by the probe, which
// writes it as JSON, and the tests, which read it.
package probeinfo

// Report is what a process sees of its sandbox from inside.
type Report struct {
	Hostname string `json:"hostname"`
	UID      int    `json:"uid"`
	GID      int    `json:"gid"`
	Groups   []int  `json:"groups"`
	Pid      int    `json:"pid"`
	Ppid     int    `json:"ppid"`
	Cwd      string `json:"cwd"`
	// Status holds the fields of /proc/self/status.
	Status map[string]string `json:"status"`
	// NetDevs are the interfaces of /proc/net/dev, Routes the lines of
	// /proc/net/route and IPv6Devs the device of each IPv6 route.
	NetDevs  []string `json:"net_devs"`
	Routes   []string `json:"routes"`
	IPv6Devs []string `json:"ipv6_route_devs"`
	// Vsock, IOUring, BPF and AttachBPF are the results ("ok" or an errno
	// name) of a vsock socket, io_uring_setup, bpf and attaching a socket
	// filter.
	Vsock     string `json:"vsock"`
	IOUring   string `json:"io_uring_setup"`
	BPF       string `json:"bpf"`
	AttachBPF string `json:"attach_filter"`
	// TCP is what a TCP round trip over 127.0.0.1 returned ("pong").
	TCP       string   `json:"tcp"`
	Env       []string `json:"env"`
	Mountinfo []string `json:"mountinfo"`
	Umask     int      `json:"umask"`
	// OpenFDs are the descriptors open at the start, as "N -> target".
	OpenFDs []string `json:"open_fds"`
	// Pids are the processes visible in /proc.
	Pids []int `json:"pids"`
}
