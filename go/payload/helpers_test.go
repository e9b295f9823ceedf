package payload_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/actiond/actiond/go/payload"
)

// content is a payload to embed in a test.
type content struct {
	name string
	data []byte
}

// writeSources writes each content to a file and returns the sources.
func writeSources(t *testing.T, cs []content) []payload.Source {
	t.Helper()
	dir := t.TempDir()
	var srcs []payload.Source
	for _, c := range cs {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, payload.Source{Name: c.name, Path: p})
	}
	return srcs
}

// testContents are payloads of a compressible and an incompressible kind.
func testContents() []content {
	text := bytes.Repeat([]byte("the guest kernel, its initramfs and the runtimes\n"), 20000)
	noise := make([]byte, 300000)
	for i := range noise {
		noise[i] = byte(i*7919 ^ i>>3)
	}
	return []content{
		{payload.Kernel, text},
		{payload.Initramfs, noise},
		{payload.Runtimes, []byte{}},
	}
}

// writeFile writes the output of write to a new file and returns its path.
func writeFile(t *testing.T, name string, mode os.FileMode, write func(out *os.File) error) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDWR, mode)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(f); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// embed writes exe with srcs in the given carrier ("elf" or "trailer").
func embed(exe, format string, srcs []payload.Source, c payload.Compression) func(*os.File) error {
	return func(out *os.File) error {
		in, err := os.Open(exe)
		if err != nil {
			return err
		}
		defer in.Close()
		fi, err := in.Stat()
		if err != nil {
			return err
		}
		switch format {
		case "elf":
			_, err = payload.WriteELF(out, in, fi.Size(), srcs, c)
		case "trailer":
			_, err = payload.WriteTrailer(out, in, fi.Size(), srcs, c)
		default:
			err = errors.New("unknown format " + format)
		}
		return err
	}
}

// goBuild builds testdata/hello for goarch and returns the binary.
func goBuild(t *testing.T, goarch string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to build a test binary")
	}
	out := filepath.Join(t.TempDir(), "hello-"+goarch)
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// gccBuild builds testdata/hello.c and returns the binary.
func gccBuild(t *testing.T) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("needs gcc to build a test binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("builds an ELF binary with the host gcc")
	}
	out := filepath.Join(t.TempDir(), "hello-c")
	if b, err := exec.Command(gcc, "-O2", "-o", out, filepath.Join("testdata", "hello.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return out
}

// checkPayloads checks that exe carries exactly cs, in format f, and that
// each verifies.
func checkPayloads(t *testing.T, exe string, f payload.Format, cs []content) {
	t.Helper()
	s, err := payload.Open(exe)
	if err != nil {
		t.Fatalf("Open(%s): %v", exe, err)
	}
	defer s.Close()
	if s.Format() != f {
		t.Errorf("Format() = %v, want %v", s.Format(), f)
	}
	if got := len(s.Payloads()); got != len(cs) {
		t.Errorf("%d payloads, want %d", got, len(cs))
	}
	for _, c := range cs {
		p := s.Lookup(c.name)
		if p == nil {
			t.Errorf("payload %s missing", c.name)
			continue
		}
		sum := sha256.Sum256(c.data)
		if p.SHA256() != hex.EncodeToString(sum[:]) || p.Size() != int64(len(c.data)) {
			t.Errorf("payload %s: sha256 %s size %d, want %x %d", c.name, p.SHA256(), p.Size(), sum, len(c.data))
		}
		if err := p.Verify(context.Background()); err != nil {
			t.Errorf("Verify: %v", err)
		}
		res, err := p.Extract(context.Background(), t.TempDir(), nil)
		if err != nil {
			t.Fatalf("Extract: %v", err)
		}
		if got, err := os.ReadFile(res.Path); err != nil || !bytes.Equal(got, c.data) {
			t.Errorf("extracted %s: %d bytes (err %v), want the %d given", c.name, len(got), err, len(c.data))
		}
	}
}

// runOutput runs exe and returns its standard output.
func runOutput(t *testing.T, exe string) string {
	t.Helper()
	b, err := exec.Command(exe).Output()
	if err != nil {
		t.Fatalf("running %s: %v", exe, err)
	}
	return string(b)
}
