package vm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/vm"
)

func TestCASImageCreatedSparseAndFresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "cas.img")
	img, err := vm.OpenCASImage(path, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if !img.Created || !img.Fresh || img.SizeBytes != 1024<<20 {
		t.Errorf("got Created=%v Fresh=%v SizeBytes=%d, want true true %d", img.Created, img.Fresh, img.SizeBytes, 1024<<20)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 1024<<20 {
		t.Errorf("size %d, want %d", st.Size(), 1024<<20)
	}
	if allocated := statBlocks(t, path) * 512; allocated >= 1<<20 {
		t.Errorf("%d bytes allocated for a new image, want it sparse", allocated)
	}
}

func TestCASImageSecondOpenRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cas.img")
	first, err := vm.OpenCASImage(path, 64)
	if err != nil {
		t.Fatal(err)
	}
	_, err = vm.OpenCASImage(path, 64)
	if err == nil || !strings.Contains(err.Error(), "in use by another serve-vm") || !strings.Contains(err.Error(), "give another --cas-image") {
		t.Fatalf("second open: got %v, want an in-use error naming --cas-image", err)
	}
	first.Close()
	again, err := vm.OpenCASImage(path, 64)
	if err != nil {
		t.Fatalf("open after the first closed: %v", err)
	}
	again.Close()
}

func TestCASImageNeverTruncatedOrRewritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cas.img")
	// An image as the guest leaves it: some data, a size other than the
	// one asked for now.
	content := bytes.Repeat([]byte("ext4"), 1<<18) // 1 MiB
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := vm.OpenCASImage(path, 4096)
	if err != nil {
		t.Fatal(err)
	}
	img.Close()
	if img.Created || img.Fresh || img.SizeBytes != int64(len(content)) {
		t.Errorf("got Created=%v Fresh=%v SizeBytes=%d, want false false %d", img.Created, img.Fresh, img.SizeBytes, len(content))
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("the image changed: %d bytes, want the %d bytes it had", len(got), len(content))
	}
}

func TestCASImageLeftUnformattedIsFreshAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cas.img")
	img, err := vm.OpenCASImage(path, 64)
	if err != nil {
		t.Fatal(err)
	}
	img.Close()
	// A first boot that died before the guest formatted: still all holes.
	img, err = vm.OpenCASImage(path, 64)
	if err != nil {
		t.Fatal(err)
	}
	img.Close()
	if img.Created || !img.Fresh {
		t.Errorf("got Created=%v Fresh=%v, want false true", img.Created, img.Fresh)
	}
}

func TestStateDirSecondOpenRefused(t *testing.T) {
	root := t.TempDir()
	first, err := vm.OpenStateDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := vm.OpenStateDir(root); err == nil || !strings.Contains(err.Error(), "give another --root") {
		t.Fatalf("second open: got %v, want an in-use error naming --root", err)
	}
	if got, want := first.ChannelSocket(), filepath.Join(root, "vm", "channel.sock"); got != want {
		t.Errorf("ChannelSocket() = %q, want %q", got, want)
	}
}

func TestStateDirRootTooLongForSocket(t *testing.T) {
	root := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if _, err := vm.OpenStateDir(root); err == nil || !strings.Contains(err.Error(), "give a shorter --root") {
		t.Fatalf("got %v, want an error asking for a shorter --root", err)
	}
}
