package guest_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/actiond/actiond/go/guest"
)

// image returns size zero bytes with magic written at offset.
func image(size, offset int, magic []byte) []byte {
	b := make([]byte, size)
	copy(b[offset:], magic)
	return b
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		disk []byte
		want guest.Filesystem
	}{
		{"empty", make([]byte, 4<<20), guest.Empty},
		{"empty and short", make([]byte, 3000), guest.Empty},
		{"zero length", nil, guest.Empty},
		{"ext", image(1<<20, 1080, []byte{0x53, 0xef}), guest.Ext},
		{"squashfs", image(1<<20, 0, []byte("hsqs")), guest.SquashFS},
		{"xfs", image(1<<20, 0, []byte("XFSB")), guest.XFS},
		{"btrfs", image(1<<20, 65536+64, []byte("_BHRfS_M")), guest.Btrfs},
		{"f2fs", image(1<<20, 1024, binary.LittleEndian.AppendUint32(nil, 0xF2F52010)), guest.F2FS},
		{"iso9660", image(1<<20, 32769, []byte("CD001")), guest.ISO9660},
		{"luks", image(1<<20, 0, []byte("LUKS\xba\xbe")), guest.LUKS},
		{"swap", image(1<<20, 4086, []byte("SWAPSPACE2")), guest.Swap},
		{"gpt", image(1<<20, 512, []byte("EFI PART")), guest.GPT},
		{"dos", image(1<<20, 510, []byte{0x55, 0xaa}), guest.DOS},
		{"unknown data early", image(1<<20, 7, []byte{1}), guest.Unknown},
		{"unknown data at the end of the window", image(2<<20, 1<<20-1, []byte{1}), guest.Unknown},
		{"data past the window", image(2<<20, 1<<20, []byte{1}), guest.Empty},
		{"magic cut by the end of the disk", image(1081, 1080, []byte{0x53}), guest.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := guest.Detect(bytes.NewReader(tt.disk))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Detect = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDetectRealImages checks the signatures against what the host's
// tools write, where they are installed.
func TestDetectRealImages(t *testing.T) {
	dir := t.TempDir()
	tools := []struct {
		name string
		tool string
		make func(path string) *exec.Cmd
		want guest.Filesystem
	}{
		{"mke2fs ext4", "mke2fs", func(p string) *exec.Cmd { return exec.Command("mke2fs", "-q", "-t", "ext4", p, "8M") }, guest.Ext},
		{"mke2fs ext2", "mke2fs", func(p string) *exec.Cmd { return exec.Command("mke2fs", "-q", "-t", "ext2", p, "8M") }, guest.Ext},
		{"mksquashfs", "mksquashfs", func(p string) *exec.Cmd {
			src := filepath.Join(dir, "src")
			os.MkdirAll(src, 0o755)
			os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
			return exec.Command("mksquashfs", src, p, "-quiet", "-noappend")
		}, guest.SquashFS},
		{"mkfs.vfat", "mkfs.vfat", func(p string) *exec.Cmd { return exec.Command("mkfs.vfat", "-C", p, "8192") }, guest.DOS},
	}
	for i, tt := range tools {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := exec.LookPath(tt.tool); err != nil {
				t.Skipf("%s is not installed", tt.tool)
			}
			p := filepath.Join(dir, "img"+string(rune('a'+i)))
			if out, err := tt.make(p).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tt.tool, err, out)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := guest.Detect(f)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Detect(%s image) = %q, want %q", tt.tool, got, tt.want)
			}
		})
	}
}
