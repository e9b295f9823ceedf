//go:build linux

// Command probe runs as a remote action and prints, as one JSON object, what
// the action can see and do: its identity and privileges, which privileged
// operations succeed, whether it can modify its inputs, who owns the files
// it sees, and its network view. The parity test runs it under a root and a
// rootless daemon and compares the two reports field by field.
//
// It expects these inputs next to it (the test builds the input root):
//
//	in/chmod, in/write, in/truncate, in/unlink, in/rename   files
//	in/dir/keep                                             a directory to rename
//	pkg/big/f00 ... f39                                     many files, bound read-only
//
// Operations that change the process itself (setuid, chroot, ptrace) run in
// a child (the probe re-executed with the operation's name) so that a
// success cannot change what the later probes see.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// report maps a probe's name to what it found. Keys ending in ".errno" say
// how an operation failed; the test shows them but does not compare them.
type report map[string]string

func main() {
	if len(os.Args) == 3 && os.Args[1] == "child" {
		os.Exit(runChild(os.Args[2]))
	}
	r := report{}
	identity(r)
	privileged(r)
	inputs(r)
	owners(r)
	network(r)
	out, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

// outcome records whether an operation succeeded, and its errno if not.
func (r report) outcome(name string, err error) {
	if err == nil {
		r[name] = "ok"
		return
	}
	r[name] = "fails"
	var errno syscall.Errno
	if errors.As(err, &errno) {
		r[name+".errno"] = unix.ErrnoName(errno)
	} else {
		r[name+".errno"] = err.Error()
	}
}

// identity reads the ids, groups, capability sets, no_new_privs and
// seccomp mode from /proc/self/status.
func identity(r report) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		r["status"] = err.Error()
		return
	}
	defer f.Close()
	fields := map[string]string{
		"Uid": "uid", "Gid": "gid", "Groups": "groups",
		"CapInh": "cap_inheritable", "CapPrm": "cap_permitted", "CapEff": "cap_effective",
		"CapBnd": "cap_bounding", "CapAmb": "cap_ambient",
		"NoNewPrivs": "no_new_privs", "Seccomp": "seccomp_mode", "Umask": "umask",
	}
	s := bufio.NewScanner(f)
	for s.Scan() {
		key, value, ok := strings.Cut(s.Text(), ":")
		if name, known := fields[key]; ok && known {
			r[name] = strings.Join(strings.Fields(value), " ")
		}
	}
	host, err := os.Hostname()
	if err != nil {
		host = err.Error()
	}
	r["hostname"] = host
	wd, err := os.Getwd()
	if err != nil {
		wd = err.Error()
	}
	r["cwd"] = wd
}

// childOps are the operations that run in a re-executed child.
var childOps = map[string]func() error{
	"setuid_0": func() error { return unix.Setuid(0) },
	"setgid_0": func() error { return unix.Setgid(0) },
	"chroot":   func() error { return unix.Chroot("/tmp") },
	// PTRACE_SEIZE does not stop the tracee; the child's exit detaches.
	"ptrace_pid1": func() error { return unix.PtraceSeize(1) },
}

func runChild(op string) int {
	f, ok := childOps[op]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown child operation %q\n", op)
		return 2
	}
	if err := f(); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			fmt.Print(unix.ErrnoName(errno))
		} else {
			fmt.Print(err.Error())
		}
		return 1
	}
	return 0
}

// privileged tries what an action must not be able to do. Creating a
// socket sends nothing.
func privileged(r report) {
	names := make([]string, 0, len(childOps))
	for name := range childOps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out, err := exec.Command("/proc/self/exe", "child", name).Output()
		if err == nil {
			r.outcome(name, nil)
		} else {
			r.outcome(name, errors.New(strings.TrimSpace(string(out))))
			if len(out) == 0 {
				r[name+".errno"] = err.Error()
			}
		}
	}
	_ = os.MkdirAll("/tmp/probe-mnt", 0o755)
	r.outcome("mount_tmpfs", unix.Mount("tmpfs", "/tmp/probe-mnt", "tmpfs", 0, ""))
	r.outcome("mknod_char", unix.Mknod("/tmp/probe-null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	r.outcome("sethostname", unix.Sethostname([]byte("probe")))
	socket := func(domain, typ, proto int) error {
		fd, err := unix.Socket(domain, typ, proto)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	r.outcome("socket_raw_inet", socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP))
	r.outcome("socket_packet", socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL))))
	r.outcome("socket_vsock", socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0))
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// inputs tries to modify each input in one way, then to create files and
// directories next to them, which must work.
func inputs(r report) {
	r.outcome("input_chmod", os.Chmod("in/chmod", 0o777))
	f, err := os.OpenFile("in/write", os.O_WRONLY, 0)
	if err == nil {
		_, err = f.Write([]byte("changed"))
		f.Close()
	}
	r.outcome("input_overwrite", err)
	r.outcome("input_truncate", os.Truncate("in/truncate", 0))
	r.outcome("input_unlink", os.Remove("in/unlink"))
	r.outcome("input_rename", os.Rename("in/rename", "in/renamed"))
	r.outcome("input_dir_rename", os.Rename("in/dir", "in/dir-renamed"))
	r.outcome("input_dir_rmdir_recursive", os.RemoveAll("in/dir"))
	r.outcome("create_file_next_to_inputs", os.WriteFile("in/new-file", []byte("new"), 0o644))
	r.outcome("mkdir_next_to_inputs", os.Mkdir("in/new-dir", 0o755))
	r.outcome("create_file_in_tmp", os.WriteFile("/tmp/new-file", []byte("new"), 0o644))
	// A subtree with many files comes from a read-only bind below the
	// input directories: all of it must be there, and locked too.
	big, err := os.ReadDir("pkg/big")
	r["big_input_entries"] = fmt.Sprint(len(big), err)
	r.outcome("big_input_unlink", os.Remove("pkg/big/f00"))
}

// owners records the uid:gid and the permission bits of what an action
// sees, apart.
func owners(r report) {
	paths := map[string]string{
		"input_file":    "in/write",
		"input_dir":     "in",
		"probe_binary":  "probe",
		"execroot":      ".",
		"tmp":           "/tmp",
		"etc_passwd":    "/etc/passwd",
		"dev_null":      "/dev/null",
		"created_file":  "in/new-file",
		"runtime_libc":  firstExisting("/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/aarch64-linux-gnu/libc.so.6"),
		"runtime_shell": firstExisting("/bin/bash", "/usr/bin/bash"),
	}
	for name, p := range paths {
		var st unix.Stat_t
		if p == "" || unix.Lstat(p, &st) != nil {
			r["owner_"+name], r["mode_"+name] = "absent", "absent"
			continue
		}
		r["owner_"+name] = fmt.Sprintf("%d:%d", st.Uid, st.Gid)
		r["mode_"+name] = fmt.Sprintf("%04o", st.Mode&0o7777)
	}
}

func firstExisting(paths ...string) string {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return p
		}
	}
	return ""
}

// network records the interfaces, the routes and whether TCP on loopback
// works, without sending anything anywhere else.
func network(r report) {
	ifaces, err := net.Interfaces()
	if err != nil {
		r["interfaces"] = err.Error()
	} else {
		var names []string
		for _, i := range ifaces {
			names = append(names, fmt.Sprintf("%s(%s)", i.Name, i.Flags))
		}
		sort.Strings(names)
		r["interfaces"] = strings.Join(names, " ")
	}
	r["routes_ipv4"] = routes("/proc/net/route", 1, 0)
	r["routes_ipv6"] = routes("/proc/net/ipv6_route", 0, 9)
	r.outcome("tcp_loopback", loopbackTCP())
	_, err = os.Stat(filepath.Join("/sys/class/net", "lo"))
	r["sysfs_lo"] = fmt.Sprint(err == nil)
}

// routes returns the interface names of a route table, header lines
// skipped, in the column given.
func routes(path string, header, column int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var ifs []string
	for i, line := range lines {
		fields := strings.Fields(line)
		if i < header || len(fields) <= column {
			continue
		}
		ifs = append(ifs, fields[column])
	}
	sort.Strings(ifs)
	return strings.Join(ifs, " ")
}

func loopbackTCP() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, err = c.Write([]byte("x"))
			c.Close()
		}
		done <- err
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil {
		return err
	}
	return <-done
}
