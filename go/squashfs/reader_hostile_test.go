package squashfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/squashfs"
)

// hostileSeed is a small uncompressed image, so that mutations hit
// inodes, listings and block lists rather than compressed streams.
func hostileSeed(t testing.TB, comp squashfs.Compression) []byte {
	b, err := squashfs.NewBuilder(squashfs.Options{Compression: comp, BlockSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for _, add := range []error{
		b.AddFile("dir/xx", []byte("named to be renamed"), 0o644),
		b.AddFile("dir/big", bytes.Repeat([]byte("0123456789"), 1000), 0o755),
		b.AddFile("tail", []byte("short"), 0o600),
		b.AddSymlink("dir/link", "../tail"),
		b.AddDir("empty", 0o555),
	} {
		if add != nil {
			t.Fatal(add)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// walkAll reads everything rd holds, checking that every name it returns
// is one path component. Errors are expected on a damaged image; panics
// and escaping names are not.
func walkAll(t testing.TB, rd *squashfs.Reader) {
	seen := map[uint32]bool{}
	// A damaged size can make a file huge (and sparse): read a bounded
	// amount in all.
	budget := int64(16 << 20)
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		entries, err := rd.ReadDir(dir)
		if err != nil || depth > 16 {
			return
		}
		for i, e := range entries {
			name := e.Name()
			if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
				t.Fatalf("ReadDir(%q) returned the entry %q", dir, name)
			}
			// fs.ReadDirFS: sorted by name; a name twice would make
			// one of the two unreachable.
			if i > 0 && entries[i-1].Name() >= name {
				t.Fatalf("ReadDir(%q) returned %q before %q", dir, entries[i-1].Name(), name)
			}
			p := path.Join(dir, name)
			info, err := e.Info()
			if err != nil {
				continue
			}
			switch {
			case info.IsDir():
				// A damaged image may loop; each directory once.
				if n := info.Sys().(*squashfs.InodeInfo).Number; !seen[n] {
					seen[n] = true
					walk(p, depth+1)
				}
			case info.Mode()&fs.ModeSymlink != 0:
				_, _ = rd.ReadLink(p)
			case info.Mode().IsRegular():
				if f, err := rd.Open(p); err == nil {
					n, err := io.Copy(io.Discard, io.LimitReader(f, max(budget, 0)))
					// A file read to its end without an error has the
					// size its inode declares: damage is an error, not a
					// silently short or long file.
					if err == nil && n < budget && n != info.Size() {
						t.Fatalf("%s: read %d bytes, its size is %d", p, n, info.Size())
					}
					budget -= n
					f.Close()
				}
			}
		}
	}
	walk(".", 0)
}

// TestReaderSurvivesDamagedImages flips bytes of valid images and reads
// each damaged copy in full: the reader must return errors, not panic,
// and never hand out a name that is not a single path component.
func TestReaderSurvivesDamagedImages(t *testing.T) {
	for _, comp := range []squashfs.Compression{squashfs.None, squashfs.Gzip, squashfs.Zstd} {
		seed := hostileSeed(t, comp)
		r := rand.New(rand.NewPCG(uint64(comp), 9))
		for i := range 400 {
			img := bytes.Clone(seed)
			for range 1 + r.IntN(4) {
				// Past the superblock most of the time, where the
				// tables are.
				at := r.IntN(len(img))
				img[at] = byte(r.Uint32())
			}
			rd, err := squashfs.NewReader(bytes.NewReader(img))
			if err != nil {
				if !errors.Is(err, squashfs.ErrInvalidImage) {
					t.Errorf("mutation %d: NewReader = %v, want ErrInvalidImage", i, err)
				}
				continue
			}
			walkAll(t, rd)
		}
	}
}

// TestReaderRefusesEscapingNames renames a directory entry in place to
// ".." and to "a/": the reader must refuse the listing.
func TestReaderRefusesEscapingNames(t *testing.T) {
	seed := hostileSeed(t, squashfs.None)
	if bytes.Count(seed, []byte("xx")) != 1 {
		t.Fatalf("the seed image holds %d copies of the name xx, want 1", bytes.Count(seed, []byte("xx")))
	}
	for _, name := range []string{"..", "x/", "x\x00"} {
		img := bytes.Replace(seed, []byte("xx"), []byte(name), 1)
		rd, err := squashfs.NewReader(bytes.NewReader(img))
		if err != nil {
			t.Fatalf("NewReader: %v", err)
		}
		if entries, err := rd.ReadDir("dir"); !errors.Is(err, squashfs.ErrInvalidImage) {
			t.Errorf("ReadDir of a listing with the entry %q = %v, %v; want ErrInvalidImage", name, entries, err)
		}
	}
}

// wideSeed is an image whose listings and inode table span several
// metadata blocks: a directory of many entries, a deep chain of
// directories, files that end in fragments and one of several blocks with
// a hole (a block of zeros, stored as a sparse block).
func wideSeed(t testing.TB, comp squashfs.Compression) []byte {
	b, err := squashfs.NewBuilder(squashfs.Options{Compression: comp, BlockSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	add := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		add(b.AddFile(fmt.Sprintf("many/entry-%03d", i), []byte(strconv.Itoa(i)), 0o644))
	}
	deep := "d"
	for range 20 {
		deep += "/d"
	}
	add(b.AddFile(deep+"/leaf", []byte("deep"), 0o444))
	add(b.AddSymlink("many/loop", ".."))
	holey := append(append(bytes.Repeat([]byte("a"), 4096), make([]byte, 4096)...), "tail"...)
	add(b.AddFile("holey", holey, 0o755))
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzReader reads damaged images in full; `go test -fuzz FuzzReader`
// explores further than the fixed mutations above. Besides never
// panicking, the reader must keep the promises walkAll checks: names are
// single components, listings sorted and unique, and a file read to its
// end has its declared size. More seeds, small hand-damaged images, are in
// testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	for _, comp := range []squashfs.Compression{squashfs.None, squashfs.Gzip, squashfs.Zstd} {
		f.Add(hostileSeed(f, comp))
	}
	f.Add(wideSeed(f, squashfs.None))
	f.Add(wideSeed(f, squashfs.Zstd))
	f.Fuzz(func(t *testing.T, img []byte) {
		rd, err := squashfs.NewReader(bytes.NewReader(img))
		if err != nil {
			return
		}
		walkAll(t, rd)
	})
}
