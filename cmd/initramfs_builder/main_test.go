package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// cpioEntry is a decoded newc header with its data.
type cpioEntry struct {
	name                 string
	mode, uid, gid       uint32
	mtime                uint32
	rdevMajor, rdevMinor uint32
	data                 []byte
}

// decode reads a zstd-compressed newc archive up to its trailer.
func decode(t *testing.T, compressed []byte) []cpioEntry {
	t.Helper()
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	b, err := dec.DecodeAll(compressed, nil)
	if err != nil {
		t.Fatalf("zstd: %v", err)
	}
	var out []cpioEntry
	for off := 0; ; {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("no newc header at offset %d", off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("header field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		e := cpioEntry{mode: field(1), uid: field(2), gid: field(3), mtime: field(5), rdevMajor: field(9), rdevMinor: field(10)}
		size, namesize := int(field(6)), int(field(11))
		e.name = string(b[off+110 : off+110+namesize-1])
		off += 110 + namesize
		off += pad4(off)
		e.data = b[off : off+size]
		off += size + pad4(size)
		if e.name == "TRAILER!!!" {
			return out
		}
		out = append(out, e)
	}
}

func build(t *testing.T, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "initramfs.cpio.zst")
	if err := run(append(args, "--out", out)); err != nil {
		t.Fatalf("run: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildIsDeterministicAndComplete(t *testing.T) {
	init := filepath.Join(t.TempDir(), "guest")
	if err := os.WriteFile(init, []byte("#!guest binary\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	first := build(t, "--init", init)
	// Another mtime on the input must not show.
	if err := os.Chtimes(init, time1, time1); err != nil {
		t.Fatal(err)
	}
	if second := build(t, "--init", init); !bytes.Equal(first, second) {
		t.Fatal("two builds from the same inputs differ")
	}
	got := map[string]cpioEntry{}
	var names []string
	for _, e := range decode(t, first) {
		got[e.name] = e
		names = append(names, e.name)
		if e.uid != 0 || e.gid != 0 || e.mtime != 0 {
			t.Errorf("%s: uid %d gid %d mtime %d, want all 0", e.name, e.uid, e.gid, e.mtime)
		}
	}
	want := []string{"cas", "dev", "dev/console", "init", "proc", "run", "runtimes", "sys", "tmp"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("entries = %q, want %q", names, want)
	}
	if e := got["init"]; e.mode != modeRegular|0o755 || string(e.data) != "#!guest binary\n" {
		t.Errorf("init: mode %o, data %q; want %o and the --init file", e.mode, e.data, modeRegular|0o755)
	}
	if e := got["dev/console"]; e.mode != modeChar|0o600 || e.rdevMajor != 5 || e.rdevMinor != 1 {
		t.Errorf("dev/console: mode %o, rdev %d,%d; want char device 5,1", e.mode, e.rdevMajor, e.rdevMinor)
	}
	if e := got["tmp"]; e.mode != modeDir|0o1777 {
		t.Errorf("tmp: mode %o, want %o", e.mode, modeDir|0o1777)
	}
	// The host's cpio agrees, where it is installed.
	if _, err := exec.LookPath("cpio"); err == nil {
		dec, _ := zstd.NewReader(nil)
		raw, _ := dec.DecodeAll(first, nil)
		dec.Close()
		cmd := exec.Command("cpio", "-it", "--quiet")
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cpio -t: %v", err)
		}
		if got := strings.Fields(string(out)); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("cpio -t lists %q, want %q", got, want)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--out", "x"}, "--init is required"},
		{[]string{"--init", "x"}, "--out is required"},
		{[]string{"--init", "x", "--out", "y", "--exe", "/sbin/mke2fs"}, "--exe needs the --deb packages"},
		{[]string{"--init", "x", "--out", "y", "stray"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		if err := run(tt.args); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
		}
	}
}

// TestMke2fsClosureRuns takes mke2fs and its libraries from the host
// architecture's Debian packages (fetched with apt-get download), and,
// as root, runs it from the unpacked archive in a chroot, where no library
// but the archive's exists.
func TestMke2fsClosureRuns(t *testing.T) {
	debs := t.TempDir()
	os.Chmod(debs, 0o777) // apt drops privileges to _apt for downloads
	cmd := exec.Command("apt-get", "download", "-q", "e2fsprogs", "libext2fs2", "libcom-err2", "libblkid1", "libuuid1", "libc6")
	cmd.Dir = debs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("apt-get download failed (no apt or no archive access): %v\n%s", err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	args := []string{"--init", os.Args[0], "--exe", "/sbin/mke2fs"}
	for _, m := range matches {
		args = append(args, "--deb", m)
	}
	entries := decode(t, build(t, args...))
	names := map[string]bool{}
	for _, e := range entries {
		names[e.name] = true
	}
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	for _, n := range []string{"sbin/mke2fs", "lib/" + triplet + "/libc.so.6", "lib/" + triplet + "/libext2fs.so.2", "usr/lib/" + triplet + "/libblkid.so.1"} {
		if !names[n] {
			t.Errorf("the archive lacks %s", n)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to chroot into the unpacked archive")
	}
	root := t.TempDir()
	for _, e := range entries {
		p := filepath.Join(root, e.name)
		var err error
		switch e.mode & 0o170000 {
		case modeDir:
			err = os.MkdirAll(p, 0o755)
		case modeSymlink:
			err = os.Symlink(string(e.data), p)
		case modeRegular:
			err = os.WriteFile(p, e.data, os.FileMode(e.mode&0o777))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(root, "tmp", "cas.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("chroot", root, "/sbin/mke2fs", "-q", "-t", "ext4", "/tmp/cas.img").CombinedOutput()
	if err != nil {
		t.Fatalf("mke2fs from the archive: %v\n%s", err, out)
	}
}

var time1 = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
