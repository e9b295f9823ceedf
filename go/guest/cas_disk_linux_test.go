//go:build linux

package guest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// loopDevice attaches a fresh image of size bytes, starting with head, to
// a loop device. It skips without root or losetup.
func loopDevice(t *testing.T, size int64, head []byte) (dev, img string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices and mounts")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("losetup is not installed")
	}
	img = filepath.Join(t.TempDir(), "cas.img")
	if err := os.WriteFile(img, head, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("losetup: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev, img
}

func hostFormatter(t *testing.T) Formatter {
	t.Helper()
	p, err := exec.LookPath("mke2fs")
	if err != nil {
		t.Skip("the host has no mke2fs")
	}
	return Formatter{Mke2fs: p}
}

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// mountCASOnce mounts dev under a fresh root and unmounts it at the end.
func mountCASOnce(t *testing.T, f Formatter, dev string, format bool, use func(casDir string)) error {
	t.Helper()
	root := t.TempDir()
	if err := mountCAS(context.Background(), testLogger(), f, root, dev, format); err != nil {
		return err
	}
	casDir := filepath.Join(root, CASDir)
	defer func() {
		if err := unix.Unmount(casDir, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	}()
	use(casDir)
	return nil
}

func TestMountCASFormatsOnFirstBootOnly(t *testing.T) {
	f := hostFormatter(t)
	dev, _ := loopDevice(t, 64<<20, nil)
	if err := mountCASOnce(t, f, dev, false, func(string) {}); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("mounting an empty disk without format_cas: %v, want an \"is empty\" error", err)
	}
	if err := mountCASOnce(t, f, dev, true, func(casDir string) {
		if err := os.WriteFile(filepath.Join(casDir, "kept"), []byte("blob"), 0o644); err != nil {
			t.Fatal(err)
		}
	}); err != nil {
		t.Fatalf("first boot: %v", err)
	}
	if fs, err := detectDevice(dev); err != nil || fs != Ext {
		t.Fatalf("after the first boot the disk holds %q (%v), want ext", fs, err)
	}
	// The second boot asks for a format again: the disk holds ext4, so it
	// is mounted as it is and the file is still there.
	if err := mountCASOnce(t, f, dev, true, func(casDir string) {
		if b, err := os.ReadFile(filepath.Join(casDir, "kept")); err != nil || string(b) != "blob" {
			t.Errorf("after a second boot with format_cas=1, kept = %q, %v; want the first boot's content", b, err)
		}
	}); err != nil {
		t.Fatalf("second boot: %v", err)
	}
}

func TestMountCASNeverReformats(t *testing.T) {
	f := hostFormatter(t)
	tests := []struct {
		name    string
		head    []byte
		wantErr string
	}{
		{"xfs-like", []byte("XFSB\x00\x00\x10\x00"), "holds a xfs filesystem that is not ext4; actiond never reformats a disk"},
		{"squashfs", []byte("hsqs\x01\x00\x00\x00"), "holds a squashfs filesystem"},
		{"unknown data", []byte("not a file system, but data all the same"), "holds data with no file system signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, img := loopDevice(t, 16<<20, tt.head)
			before := fileHash(t, img)
			err := mountCASOnce(t, f, dev, true, func(string) { t.Error("a disk holding data was mounted") })
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("mountCAS = %v, want an error containing %q", err, tt.wantErr)
			}
			if after := fileHash(t, img); !bytes.Equal(before, after) {
				t.Errorf("the disk changed although it must never be reformatted")
			}
		})
	}
}

func fileHash(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}
