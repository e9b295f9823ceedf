//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/actiond/actiond/go/vm"
	"github.com/actiond/actiond/go/vm/vmtest"
)

// bootFiles writes a kernel and an initramfs that pass validation (their
// headers only) and returns their paths.
func bootFiles(t *testing.T) (kernel, initramfs string) {
	dir := t.TempDir()
	kernel = filepath.Join(dir, "bzImage")
	k := make([]byte, 4096)
	copy(k[0x202:], "HdrS")
	copy(k[0x38:], "") // not arm64
	if vm.HostArch() == vm.ARM64 {
		k = make([]byte, 4096)
		copy(k[0x38:], "ARM\x64")
	}
	initramfs = filepath.Join(dir, "initramfs.cpio")
	if err := os.WriteFile(kernel, k, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initramfs, newc(t, map[string][]byte{"init": elfHead(vm.HostArch())}), 0o644); err != nil {
		t.Fatal(err)
	}
	return kernel, initramfs
}

// elfHead is the first bytes of an ELF executable for arch.
func elfHead(arch vm.Arch) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	b[16] = 2 // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], map[vm.Arch]uint16{vm.X86_64: 62, vm.ARM64: 183}[arch])
	return b
}

// newc is a newc cpio archive of files (path: content, mode 0755) plus
// /dev/console, with its trailer.
func newc(t *testing.T, files map[string][]byte) []byte {
	var b bytes.Buffer
	ino := 1
	entry := func(name string, mode, rmajor, rminor int, data []byte) {
		fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, rmajor, rminor, len(name)+1, 0)
		ino++
		b.WriteString(name + "\x00")
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	entry("dev", 0o40755, 0, 0, nil)
	entry("dev/console", 0o20600, 5, 1, nil)
	for name, data := range files {
		entry(name, 0o100755, 0, 0, data)
	}
	entry("TRAILER!!!", 0, 0, 0, nil)
	return b.Bytes()
}

func TestServeVMArguments(t *testing.T) {
	kernel, initramfs := bootFiles(t)
	tmp := t.TempDir()
	text := filepath.Join(tmp, "notes.txt")
	os.WriteFile(text, []byte("not a kernel\n"), 0o644)
	kernelBytes, _ := os.ReadFile(kernel)
	truncatedKernel := filepath.Join(tmp, "truncated-kernel")
	os.WriteFile(truncatedKernel, kernelBytes[:1024], 0o644)
	initramfsBytes, _ := os.ReadFile(initramfs)
	truncatedInitramfs := filepath.Join(tmp, "truncated.cpio")
	os.WriteFile(truncatedInitramfs, initramfsBytes[:len(initramfsBytes)-200], 0o644)
	otherArch := vm.ARM64
	if vm.HostArch() == vm.ARM64 {
		otherArch = vm.X86_64
	}
	wrongArchInitramfs := filepath.Join(tmp, "other-arch.cpio")
	os.WriteFile(wrongArchInitramfs, newc(t, map[string][]byte{"init": elfHead(otherArch)}), 0o644)
	noInit := filepath.Join(tmp, "no-init.cpio")
	os.WriteFile(noInit, newc(t, nil), 0o644)
	root := t.TempDir()
	valid := []string{"serve-vm", "--root=" + root, "--kernel=" + kernel, "--initramfs=" + initramfs}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOutput string
	}{
		{"help", []string{"help"}, 0, "linux_actiond serve-vm [flags]"},
		{"help serve-vm", []string{"help", "serve-vm"}, 0, "-cas-image-size-mib"},
		{"help lists start timeout", []string{"help", "serve-vm"}, 0, "-start-timeout-ms"},
		{"unknown flag", []string{"serve-vm", "--max-cas-bytes=2"}, 2, "flag provided but not defined: -max-cas-bytes"},
		{"stray argument", []string{"serve-vm", "extra"}, 2, "unexpected arguments"},
		{"bad log format", []string{"serve-vm", "--log-format=xml"}, 2, `--log-format "xml"`},
		{"bad arch", []string{"serve-vm", "--arch=mips"}, 2, `--arch: architecture "mips"`},
		{"bad listen", []string{"serve-vm", "--listen=8980"}, 2, `--listen "8980"`},
		{"all interfaces without TLS", append(valid, "--listen=:8980"), 2, "--listen :8980 listens on every interface, and anyone who reaches it can run actions: add --tls-cert=FILE"},
		{"unreadable certificate", append(valid, "--tls-cert=/nonexistent/c.pem", "--tls-key=/nonexistent/k.pem"), 2, "--tls-cert /nonexistent/c.pem"},
		{"no kernel", []string{"serve-vm", "--root=" + root, "--initramfs=" + initramfs}, 2, "--kernel is required"},
		{"missing kernel", append(valid, "--kernel="+tmp+"/nope"), 2, "--kernel " + tmp + "/nope does not exist: pass the " + string(vm.HostArch()) + " guest kernel built by kernel/build.sh"},
		{"text file as kernel", append(valid, "--kernel="+text), 2, "is not an " + string(vm.HostArch())},
		{"missing initramfs", append(valid, "--initramfs="+tmp+"/nope"), 2, "--initramfs " + tmp + "/nope does not exist: pass the initramfs built by vm/build_initramfs.sh"},
		{"truncated initramfs", append(valid, "--initramfs="+truncatedInitramfs), 2, "--initramfs " + truncatedInitramfs + " is corrupt (the cpio archive ends"},
		{"initramfs for the other arch", append(valid, "--initramfs="+wrongArchInitramfs), 2, "/init, not " + string(vm.HostArch()) + ": pass the initramfs built by vm/build_initramfs.sh"},
		{"initramfs without /init", append(valid, "--initramfs="+noInit), 2, "has no /init"},
		{"text file as initramfs", append(valid, "--initramfs="+text), 2, "--initramfs " + text + " is not an initramfs"},
		{"runtime image not squashfs", append(valid, "--runtime-image="+text), 2, "not a SquashFS image"},
		{"too little memory", append(valid, "--memory-mib=100"), 2, "--memory-mib 100 is too little for the guest: give at least 256"},
		{"zero cpus", append(valid, "--cpus=0"), 2, "--cpus must be at least 1"},
		{"zero start timeout", append(valid, "--start-timeout-ms=0"), 2, "--start-timeout-ms must be positive"},
	}
	if vm.HostArch() == vm.X86_64 { // an arm64 Image has no size in its header
		tests = append(tests, struct {
			name       string
			args       []string
			wantCode   int
			wantOutput string
		}{"truncated kernel", append(valid, "--kernel="+truncatedKernel), 2, "--kernel " + truncatedKernel + " is truncated"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(tc.args, &stdout, &stderr)
			if got != tc.wantCode {
				t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tc.args, got, tc.wantCode, stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tc.wantOutput) {
				t.Errorf("run(%q) output does not contain %q:\n%s", tc.args, tc.wantOutput, out)
			}
		})
	}
}

func TestServeVMRefusesASecondOnTheSameRootOrImage(t *testing.T) {
	kernel, initramfs := bootFiles(t)
	root, other := t.TempDir(), t.TempDir()
	state, err := vm.OpenStateDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	img, err := vm.OpenCASImage(filepath.Join(other, "cas.img"), 64)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"same root", []string{"--root=" + root}, "is in use by another serve-vm: stop that one or give another --root"},
		{"same image", []string{"--root=" + t.TempDir(), "--cas-image=" + img.Path}, "is in use by another serve-vm: stop that one or give another --cas-image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"serve-vm", "--kernel=" + kernel, "--initramfs=" + initramfs, "--log-format=text"}, tc.args...)
			if got := run(args, &stdout, &stderr); got != 1 {
				t.Errorf("exit code %d, want 1", got)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr does not contain %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}

// silentSession is a channel session to a guest that never answers.
type silentSession struct{ done chan struct{} }

func (s *silentSession) Dial(ctx context.Context) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (s *silentSession) Forward(ctx context.Context, l net.Listener) error { <-ctx.Done(); return nil }
func (s *silentSession) Done() <-chan struct{}                             { return s.done }
func (s *silentSession) Close() error                                      { return nil }

// standInInitramfs builds the stand-in init in ./testdata/name and returns
// an initramfs holding it as /init.
func standInInitramfs(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	init := filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-o", init, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	initBytes, err := os.ReadFile(init)
	if err != nil {
		t.Fatal(err)
	}
	return writeInitramfs(t, initBytes)
}

func writeInitramfs(t *testing.T, init []byte) string {
	t.Helper()
	initramfs := filepath.Join(t.TempDir(), "initramfs.cpio")
	if err := os.WriteFile(initramfs, newc(t, map[string][]byte{"init": init}), 0o644); err != nil {
		t.Fatal(err)
	}
	return initramfs
}

// TestServeVMReportsEarlyGuestExit boots the real guest kernel with an
// initramfs whose /init powers off at once: serve-vm must exit non-zero,
// saying the VM exited before answering, with the console's last lines.
func TestServeVMReportsEarlyGuestExit(t *testing.T) {
	kernel := vmtest.Kernel(t)
	initramfs := standInInitramfs(t, "poweroff")
	saved := newSession
	newSession = func(io.ReadWriteCloser) (vm.Session, error) { return &silentSession{done: make(chan struct{})}, nil }
	defer func() { newSession = saved }()

	root := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"serve-vm", "--root=" + root, "--kernel=" + kernel, "--initramfs=" + initramfs,
		"--memory-mib=256", "--cpus=1", "--cas-image-size-mib=64", "--start-timeout-ms=600000", "--log-format=text", "--listen=127.0.0.1:0"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	log := stderr.String()
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "accelerator") || strings.Contains(l, "serve-vm failed") {
			t.Log(l)
		}
	}
	for _, want := range []string{"the VM exited before the guest answered", "poweroff-init: this guest powers off before serving", "actiond.format_cas=1"} {
		if !strings.Contains(log, want) {
			t.Errorf("log does not contain %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "vm", "cas.img")); err != nil {
		t.Errorf("no CAS image created: %v", err)
	}
}

// TestServeVMReportsAGuestThatNeverServes boots the real kernel with
// stand-in inits that do not serve, through the real channel session: the
// error says why in one line and carries the console's last lines.
func TestServeVMReportsAGuestThatNeverServes(t *testing.T) {
	kernel := vmtest.Kernel(t)
	// An /init the host check accepts (an x86_64 ELF header) but the
	// kernel cannot execute.
	brokenELF := append(elfHead(vm.X86_64), bytes.Repeat([]byte{0xff}, 4096)...)
	for _, tc := range []struct {
		name      string
		initramfs func(t *testing.T) string
		timeoutMS string
		want      []string
	}{
		{"hangs", func(t *testing.T) string { return standInInitramfs(t, "hang") }, "15000",
			[]string{"the guest did not answer within --start-timeout-ms=15000", "raise it if the guest is just slow", "the guest console's last lines:", "hang-init: this guest never answers"}},
		{"init the kernel cannot run", func(t *testing.T) string { return writeInitramfs(t, brokenELF) }, "600000",
			[]string{"the VM exited before the guest answered (the guest powered off or rebooted; the kernel could not run the initramfs's /init: rebuild --initramfs with vm/build_initramfs.sh", "No working init found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"serve-vm", "--root=" + t.TempDir(), "--kernel=" + kernel, "--initramfs=" + tc.initramfs(t),
				"--memory-mib=256", "--cpus=1", "--cas-image-size-mib=64", "--start-timeout-ms=" + tc.timeoutMS, "--log-format=text", "--listen=127.0.0.1:0"}, &stdout, &stderr)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			failed := failureRecord(stderr.String())
			t.Log(failed)
			for _, want := range tc.want {
				if !strings.Contains(failed, want) {
					t.Errorf("the failure record does not contain %q:\n%s", want, stderr.String())
				}
			}
			if pids := qemuChildren(t); len(pids) > 0 {
				t.Errorf("QEMU processes %v outlive serve-vm", pids)
			}
		})
	}
}

// failureRecord is the "serve-vm failed" log line, unquoted.
func failureRecord(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "serve-vm failed") {
			return strings.ReplaceAll(strings.ReplaceAll(l, `\n`, "\n"), `\"`, `"`)
		}
	}
	return ""
}

// qemuChildren lists the QEMU processes this test process started that
// still run.
func qemuChildren(t *testing.T) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after
		// the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(qemu-system") {
			continue
		}
		var pid, ppid int
		var state string
		fmt.Sscanf(s[:strings.IndexByte(s, ' ')], "%d", &pid)
		fmt.Sscanf(s[i+1:], " %s %d", &state, &ppid)
		if ppid == os.Getpid() && state != "Z" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// realInitramfs builds the guest's initramfs with vm/build_initramfs.sh,
// or takes $ACTIOND_TEST_INITRAMFS_X86_64.
func realInitramfs(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ACTIOND_TEST_INITRAMFS_X86_64"); p != "" {
		return p
	}
	p := filepath.Join(t.TempDir(), "initramfs.cpio.zst")
	if out, err := exec.Command("bash", "../../vm/build_initramfs.sh", "amd64", p).CombinedOutput(); err != nil {
		t.Skipf("vm/build_initramfs.sh (needs apt access; or set ACTIOND_TEST_INITRAMFS_X86_64): %v\n%s", err, out)
	}
	return p
}

// logWatch is a log destination that tells when a string appeared.
type logWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newLogWatch(want string) *logWatch { return &logWatch{want: want, seen: make(chan struct{})} }

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// Log records serveUntil waits for.
const (
	logServing  = "msg=serving listen=127.0.0.1:"
	logStarting = `msg="starting the VM"`
)

// serveUntil runs serve-vm with args until it logs the record marker,
// calls then, and returns the exit code and the log.
func serveUntil(t *testing.T, args []string, marker string, then func()) (int, string) {
	t.Helper()
	log := newLogWatch(marker)
	code := make(chan int, 1)
	go func() { code <- run(args, io.Discard, log) }()
	select {
	case <-log.seen:
		then()
	case c := <-code:
		t.Fatalf("serve-vm exited with %d before logging %s:\n%s", c, marker, log)
	}
	return <-code, log.String()
}

// TestServeVMWithTheRealGuest boots the real guest: a CAS image holding
// another file system is refused and left as it was; SIGTERM while the
// guest boots (formatting its CAS disk) or serves stops it cleanly (its
// ext4 unmounted); a boot on the same image serves, and QEMU killed under
// it makes serve-vm fail saying so.
func TestServeVMWithTheRealGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots VMs")
	}
	kernel := vmtest.Kernel(t)
	initramfs := realInitramfs(t)
	args := func(root string, more ...string) []string {
		return append([]string{"serve-vm", "--root=" + root, "--kernel=" + kernel, "--initramfs=" + initramfs,
			"--memory-mib=512", "--cpus=1", "--cas-image-size-mib=256", "--start-timeout-ms=600000", "--log-format=text", "--listen=127.0.0.1:0"}, more...)
	}

	t.Run("refuses a CAS image that is not ext4", func(t *testing.T) {
		xfs := append([]byte("XFSB\x00\x00\x10\x00"), make([]byte, 4088)...)
		random := bytes.Repeat([]byte("not a file system "), 300)
		for _, tc := range []struct {
			name, want string
			head       []byte
		}{
			{"xfs", "holds a xfs filesystem that is not ext4; actiond never reformats a disk: give it an empty image or an ext4 one", xfs},
			{"random", "holds data with no file system signature; actiond never reformats a disk: give it an empty image or an ext4 one", random},
		} {
			t.Run(tc.name, func(t *testing.T) {
				img := filepath.Join(t.TempDir(), tc.name+".img")
				if err := os.WriteFile(img, tc.head, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(img, 64<<20); err != nil {
					t.Fatal(err)
				}
				before, _ := os.ReadFile(img)
				var stderr bytes.Buffer
				if code := run(args(t.TempDir(), "--cas-image="+img), io.Discard, &stderr); code != 1 {
					t.Errorf("exit code %d, want 1", code)
				}
				failed := failureRecord(stderr.String())
				t.Log(strings.SplitN(failed, "\n", 2)[0])
				want := "--cas-image " + img + ": the guest failed before answering: cas: the CAS disk /dev/vda " + tc.want + "; the guest console's last lines:"
				if !strings.Contains(failed, want) {
					t.Errorf("the failure record does not contain %q:\n%s", want, stderr.String())
				}
				if after, _ := os.ReadFile(img); !bytes.Equal(before, after) {
					t.Error("the CAS image was written to")
				}
			})
		}
	})

	t.Run("stops cleanly, restarts, reports a killed VM", func(t *testing.T) {
		root := t.TempDir()
		img := vm.DefaultCASImage(root)
		sigterm := func() {
			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
		wantClean := func(when string) {
			t.Helper()
			if _, err := exec.LookPath("dumpe2fs"); err != nil {
				t.Logf("no dumpe2fs to check the CAS file system with: %v", err)
				return
			}
			out, err := exec.Command("dumpe2fs", "-h", img).CombinedOutput()
			if err != nil {
				t.Errorf("%s: dumpe2fs -h %s: %v\n%s", when, img, err, out)
			}
			if !regexp.MustCompile(`(?m)^Filesystem state:\s+clean$`).Match(out) || bytes.Contains(out, []byte("needs_recovery")) {
				t.Errorf("%s: the CAS file system was not unmounted cleanly:\n%s", when, out)
			}
		}
		for _, tc := range []struct {
			when, marker string
			want         []string
		}{
			{"SIGTERM while booting", logStarting, []string{"format=true", "stopping the guest, which was asked to while it booted", "formatted device=/dev/vda"}},
			{"SIGTERM while serving", logServing, []string{"format=false", "stopping the guest"}},
		} {
			code, log := serveUntil(t, args(root), tc.marker, sigterm)
			if code != 0 {
				t.Errorf("%s: exit code %d, want 0:\n%s", tc.when, code, log)
			}
			for _, want := range append(tc.want, "the host ended the session", "the daemon stopped", "reboot: Power down", "the guest powered off", "msg=stopped") {
				if !strings.Contains(log, want) {
					t.Errorf("%s: the log lacks %q:\n%s", tc.when, want, log)
				}
			}
			wantClean(tc.when)
		}

		code, log := serveUntil(t, args(root), logServing, func() {
			pids := qemuChildren(t)
			if len(pids) != 1 {
				t.Fatalf("want one QEMU child, found %v", pids)
			}
			if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		})
		if code != 1 {
			t.Errorf("after killing QEMU: exit code %d, want 1", code)
		}
		if strings.Contains(log, "format=true") {
			t.Error("the second boot formatted the CAS image again")
		}
		failed := failureRecord(log)
		t.Log(strings.SplitN(failed, "\n", 2)[0])
		if want := "the VM exited while serving (qemu-system-x86_64: signal: killed;"; !strings.Contains(failed, want) {
			t.Errorf("the failure record does not contain %q:\n%s", want, log)
		}
	})
}
