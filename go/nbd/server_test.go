package nbd_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/nbd"
)

// qemuIO returns the qemu-io binary or skips the test.
func qemuIO(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("qemu-io")
	if err != nil {
		t.Skipf("qemu-io is not installed (apt-get install qemu-utils): %v", err)
	}
	return p
}

// serve creates a zeroed image of size bytes and serves it.
func serve(t *testing.T, size int64) (s *nbd.Server, img, socket string) {
	t.Helper()
	dir := t.TempDir()
	img = filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	socket = filepath.Join(dir, "nbd.sock")
	s, err := nbd.Listen(socket, img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, img, socket
}

// run runs qemu-io on the export with cmds, then makes it kill itself
// with SIGKILL so that it does not flush the export as it would on exit.
func run(t *testing.T, bin string, s *nbd.Server, cmds ...string) string {
	t.Helper()
	// writeback: qemu-io writes through (FUA on every write) by default.
	args := []string{"-f", "raw", "-t", "writeback", s.URL()}
	for _, c := range append(cmds, "sigraise 9") {
		args = append(args, "-c", c)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Fatalf("qemu-io %q: %v, want it killed by SIGKILL\n%s", args, err, out)
	}
	if bytes.Contains(bytes.ToLower(out), []byte("fail")) || bytes.Contains(out, []byte("error")) {
		t.Fatalf("qemu-io %q:\n%s", args, out)
	}
	return string(out)
}

// pattern is a block of b.
func pattern(b byte) []byte { return bytes.Repeat([]byte{b}, nbd.BlockSize) }

// TestPowerCutKeepsFlushedAndFUAData writes through qemu-io (the client
// QEMU uses), cuts the power with the last writes unflushed, and checks
// every block of the image: flushed and FUA data are there, each
// unflushed block holds one of the versions written since the flush or
// the old content, never anything else.
func TestPowerCutKeepsFlushedAndFUAData(t *testing.T) {
	bin := qemuIO(t)
	half := append(pattern(0x11)[:2048:2048], make([]byte, 2048)...)
	for seed := range uint64(8) {
		s, img, _ := serve(t, 1<<20)
		run(t, bin, s,
			"write -P 0xab 0 64k",
			"write -P 0x33 768k 16k",
			"flush",
			"write -P 0xcd 32k 64k",
			"write -f -P 0xef 256k 8k",
			"write -P 0x11 512k 6k",
			"write -P 0x22 512k 4k",
			"write -z 768k 16k",
			// Reads see the cache.
			"read -P 0xab 0 32k",
			"read -P 0xcd 32k 64k",
			"read -P 0x22 512k 4k",
			"read -P 0x11 516k 2k",
			"read -P 0 768k 16k",
		)
		if err := s.Err(); err != nil {
			t.Fatalf("server: %v", err)
		}
		st := s.Stats()
		if st.Writes != 6 || st.FUAWrites != 1 || st.WriteZeroes != 1 || st.Flushes < 1 {
			t.Errorf("stats %+v: want 6 writes, 1 with FUA, 1 WRITE_ZEROES, a flush", st)
		}
		cut, err := s.PowerCut(rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d: %v", seed, cut)
		// Dirty: 8..23 (0xcd), 128 and 129 (0x11, 0x22), 192..195 (zeros).
		if cut.Dirty != 22 || cut.KeptNewest+cut.KeptOlder+cut.Dropped != cut.Dirty {
			t.Errorf("cut %+v: want 22 dirty blocks, each counted once", cut)
		}
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		zero := pattern(0)
		for i := range len(b) / nbd.BlockSize {
			allowed := [][]byte{zero}
			switch {
			case i < 8:
				allowed = [][]byte{pattern(0xab)}
			case i < 16:
				allowed = [][]byte{pattern(0xab), pattern(0xcd)}
			case i < 24:
				allowed = [][]byte{zero, pattern(0xcd)}
			case i == 64 || i == 65:
				allowed = [][]byte{pattern(0xef)}
			case i == 128:
				allowed = [][]byte{zero, pattern(0x11), pattern(0x22)}
			case i == 129:
				allowed = [][]byte{zero, half}
			case i >= 192 && i < 196:
				allowed = [][]byte{zero, pattern(0x33)}
			}
			got := b[i*nbd.BlockSize : (i+1)*nbd.BlockSize]
			ok := false
			for _, a := range allowed {
				ok = ok || bytes.Equal(got, a)
			}
			if !ok {
				t.Errorf("seed %d: block %d holds %x..., want one of %d allowed contents", seed, i, got[:16], len(allowed))
			}
		}
		// The disk is down: a client finds no server.
		out, err := exec.Command(bin, "-f", "raw", s.URL(), "-c", "read 0 4k").CombinedOutput()
		if err == nil {
			t.Errorf("qemu-io after the cut succeeded:\n%s", out)
		}
	}
}

// TestCloseWritesBack: an orderly stop writes the cache back, and a new
// server on the image serves what the old one was given.
func TestCloseWritesBack(t *testing.T) {
	bin := qemuIO(t)
	s, img, _ := serve(t, 256<<10)
	run(t, bin, s, "write -P 0x5a 4k 12k")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := nbd.Listen(filepath.Join(t.TempDir(), "nbd.sock"), img)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	out := run(t, bin, s2, "read -P 0x5a 4k 12k", "read -P 0 0 4k", "read -P 0 16k 240k")
	if !strings.Contains(out, "read 12288/12288 bytes at offset 4096") {
		t.Errorf("qemu-io:\n%s", out)
	}
}
