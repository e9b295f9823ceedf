package squashfs_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/actiond/actiond/go/squashfs"
)

func TestReaderRoundTrip(t *testing.T) {
	fixtures := makeFixtures(t)
	tests := []struct {
		name    string
		opts    squashfs.Options
		fixture fixtureKind
	}{
		{"zstd", squashfs.Options{Compression: squashfs.Zstd, Level: 3}, fixtureFull},
		{"gzip", squashfs.Options{Compression: squashfs.Gzip, Level: 1}, fixtureSmall},
		{"none 4 KiB blocks", squashfs.Options{Compression: squashfs.None, BlockSize: 4096}, fixtureSmall},
		{"zstd 1 MiB blocks", squashfs.Options{Compression: squashfs.Zstd, BlockSize: 1 << 20, Level: 1}, fixtureSmall},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t, tc.opts)
			if err := b.AddTree("", fixtures[tc.fixture]); err != nil {
				t.Fatal(err)
			}
			rd, err := squashfs.NewReader(bytes.NewReader(image(t, b)))
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			compareTrees(t, fixtures[tc.fixture], rd, true)
			if tc.fixture == fixtureSmall {
				if err := fstest.TestFS(rd, "a.txt", "links/one", "links/relative", "sparse", "dups/49", "nested/empty/again"); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestReaderReadsMksquashfsImages checks the reader against images of the
// reference writer, so the round trip above is not a reader and a writer
// agreeing on the same mistake.
func TestReaderReadsMksquashfsImages(t *testing.T) {
	mksquashfs := requireTool(t, "mksquashfs")
	src := t.TempDir()
	makeFixture(t, src, fixtureSmall)
	for _, args := range [][]string{
		{"-comp", "zstd"},
		{"-comp", "gzip", "-always-use-fragments"},
		{"-noI", "-noD", "-noF", "-b", "4096"},
	} {
		t.Run(args[len(args)-1], func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "mk.sqfs")
			cmd := append([]string{src, img, "-noappend", "-all-root", "-no-xattrs", "-quiet", "-no-progress"}, args...)
			if out, err := exec.Command(mksquashfs, cmd...).CombinedOutput(); err != nil {
				t.Fatalf("mksquashfs: %v\n%s", err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rd, err := squashfs.NewReader(f)
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			compareTrees(t, src, rd, true)
		})
	}
}

func TestReaderRejectsGarbage(t *testing.T) {
	for _, data := range [][]byte{nil, make([]byte, 96), bytes.Repeat([]byte("hsqs"), 100)} {
		if _, err := squashfs.NewReader(bytes.NewReader(data)); err == nil {
			t.Errorf("NewReader of %d bytes of garbage succeeded", len(data))
		}
	}
}
