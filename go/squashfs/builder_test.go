package squashfs_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/actiond/actiond/go/squashfs"
)

func newBuilder(t *testing.T, opts squashfs.Options) *squashfs.Builder {
	t.Helper()
	b, err := squashfs.NewBuilder(opts)
	if err != nil {
		t.Fatalf("NewBuilder(%+v): %v", opts, err)
	}
	return b
}

func image(t *testing.T, b *squashfs.Builder) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestNewBuilderRejectsBadOptions(t *testing.T) {
	for _, opts := range []squashfs.Options{
		{BlockSize: 1000},
		{BlockSize: 2 << 20},
		{BlockSize: 2048},
		{Compression: squashfs.Gzip, Level: 10},
		{Compression: squashfs.Zstd, Level: 23},
		{Compression: squashfs.Compression(42)},
		{Workers: -1},
	} {
		if _, err := squashfs.NewBuilder(opts); !errors.Is(err, squashfs.ErrInvalidOptions) {
			t.Errorf("NewBuilder(%+v) = %v, want ErrInvalidOptions", opts, err)
		}
	}
}

func TestParseCompression(t *testing.T) {
	for _, c := range []squashfs.Compression{squashfs.Zstd, squashfs.Gzip, squashfs.None} {
		got, err := squashfs.ParseCompression(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCompression(%q) = %v, %v, want %v", c.String(), got, err, c)
		}
	}
	if _, err := squashfs.ParseCompression("xz"); !errors.Is(err, squashfs.ErrInvalidOptions) {
		t.Errorf("ParseCompression(xz) = %v, want ErrInvalidOptions", err)
	}
}

func TestAddPathErrors(t *testing.T) {
	a, c := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "etc", "hosts"), []byte("a"), 0o644)
	writeFile(t, filepath.Join(c, "hosts"), []byte("c"), 0o644)

	tests := []struct {
		name     string
		add      func(b *squashfs.Builder) error
		want     error
		wantPath string
	}{
		{
			name: "tree provides an added file",
			add: func(b *squashfs.Builder) error {
				if err := b.AddFile("root/etc/hosts", nil, 0o644); err != nil {
					return err
				}
				return b.AddTree("root", a)
			},
			want: squashfs.ErrDuplicatePath, wantPath: "root/etc/hosts",
		},
		{
			name: "tree mapped onto a directory of another tree",
			add: func(b *squashfs.Builder) error {
				if err := b.AddTree("root", a); err != nil {
					return err
				}
				return b.AddTree("root/etc", c)
			},
			want: squashfs.ErrDuplicatePath, wantPath: "root/etc",
		},
		{
			name: "one tree mapped twice",
			add: func(b *squashfs.Builder) error {
				if err := b.AddTree("x", c); err != nil {
					return err
				}
				return b.AddTree("x", c)
			},
			want: squashfs.ErrDuplicatePath, wantPath: "x",
		},
		{
			name: "file added over tree file",
			add: func(b *squashfs.Builder) error {
				if err := b.AddTree("", a); err != nil {
					return err
				}
				return b.AddFile("etc/hosts", nil, 0o644)
			},
			want: squashfs.ErrDuplicatePath, wantPath: "etc/hosts",
		},
		{
			name: "path below a file",
			add: func(b *squashfs.Builder) error {
				if err := b.AddFile("f", nil, 0o644); err != nil {
					return err
				}
				return b.AddFile("f/g", nil, 0o644)
			},
			want: squashfs.ErrInvalidPath, wantPath: "f/g",
		},
		{
			name: "dot dot",
			add:  func(b *squashfs.Builder) error { return b.AddFile("a/../b", nil, 0o644) },
			want: squashfs.ErrInvalidPath, wantPath: "a/../b",
		},
		{
			name: "name too long",
			add:  func(b *squashfs.Builder) error { return b.AddDir(strings.Repeat("n", 256), 0o755) },
			want: squashfs.ErrInvalidPath, wantPath: strings.Repeat("n", 256),
		},
		{
			name: "empty symlink target",
			add:  func(b *squashfs.Builder) error { return b.AddSymlink("l", "") },
			want: squashfs.ErrInvalidPath, wantPath: "l",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.add(newBuilder(t, squashfs.Options{}))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantPath) {
				t.Errorf("got error %v, want %v naming %q", err, tc.want, tc.wantPath)
			}
		})
	}
}

func TestMergingTreesIntoImplicitDirectories(t *testing.T) {
	a, c := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "x"), []byte("a"), 0o644)
	writeFile(t, filepath.Join(c, "y"), []byte("c"), 0o644)
	b := newBuilder(t, squashfs.Options{})
	for _, err := range []error{
		b.AddTree("libc/glibc/amd64/root", a),
		b.AddTree("libc/glibc/arm64/root", c),
		b.AddFile("libc/glibc/amd64/runtime_manifest.json", []byte("{}"), 0o644),
		b.AddTree("shell", c),
	} {
		if err != nil {
			t.Fatalf("adding disjoint trees: %v", err)
		}
	}
	if len(image(t, b)) == 0 {
		t.Fatal("empty image")
	}
}

func TestUnsupportedFileTypes(t *testing.T) {
	tests := []struct {
		name   string
		make   func(path string) error
		root   bool
		wanted string
	}{
		{name: "socket", wanted: "socket", make: func(path string) error {
			l, err := net.Listen("unix", path)
			if err != nil {
				return err
			}
			// Keep the socket file after closing the listener.
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			return l.Close()
		}},
		{name: "fifo", wanted: "fifo", make: func(path string) error { return syscall.Mkfifo(path, 0o644) }},
		{name: "character device", wanted: "character device", root: true, make: func(path string) error {
			return syscall.Mknod(path, syscall.S_IFCHR|0o644, 1<<8|3)
		}},
		{name: "block device", wanted: "block device", root: true, make: func(path string) error {
			return syscall.Mknod(path, syscall.S_IFBLK|0o644, 7<<8|200)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Getuid() != 0 {
				t.Skip("mknod of device nodes needs root; CI runs as root")
			}
			dir := t.TempDir()
			bad := filepath.Join(dir, "sub", "bad")
			writeFile(t, filepath.Join(dir, "sub", "ok"), []byte("ok"), 0o644)
			if err := tc.make(bad); err != nil {
				t.Fatalf("creating %s: %v", tc.name, err)
			}
			err := newBuilder(t, squashfs.Options{}).AddTree("img", dir)
			if !errors.Is(err, squashfs.ErrUnsupportedFileType) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), tc.wanted) {
				t.Errorf("AddTree of a tree with a %s: got %v, want ErrUnsupportedFileType naming %s", tc.name, err, bad)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	makeFixture(t, dir, fixtureSmall)
	var images [][]byte
	for _, workers := range []int{1, 1, 2, 7} {
		for _, c := range []squashfs.Compression{squashfs.Zstd} {
			b := newBuilder(t, squashfs.Options{Compression: c, Workers: workers})
			if err := b.AddTree("", dir); err != nil {
				t.Fatal(err)
			}
			images = append(images, image(t, b))
		}
	}
	for i, img := range images[1:] {
		if !bytes.Equal(img, images[0]) {
			t.Errorf("image %d differs from image 0 (%d vs %d bytes)", i+1, len(img), len(images[0]))
		}
	}
	// Writing to a file in place gives the same bytes as the in-memory path.
	b := newBuilder(t, squashfs.Options{})
	if err := b.AddTree("", dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := b.WriteTo(f)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(onDisk)) != n || !bytes.Equal(onDisk, images[0]) {
		t.Errorf("file image: %d bytes (WriteTo said %d), want the %d in-memory bytes", len(onDisk), n, len(images[0]))
	}
	if n%4096 != 0 {
		t.Errorf("image size %d is not padded to 4 KiB", n)
	}
}

func TestDeduplication(t *testing.T) {
	content := randomBytes(1, 300_000)
	size := func(copies int) int {
		dir := t.TempDir()
		for i := range copies {
			writeFile(t, filepath.Join(dir, "d", string(rune('a'+i))), content, 0o644)
		}
		b := newBuilder(t, squashfs.Options{Compression: squashfs.None})
		if err := b.AddTree("", dir); err != nil {
			t.Fatal(err)
		}
		return len(image(t, b))
	}
	one, twenty := size(1), size(20)
	if twenty >= one+8192 {
		t.Errorf("20 identical files take %d bytes, one takes %d: contents were not deduplicated", twenty, one)
	}
}
