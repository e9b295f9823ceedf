package guest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// casPlan says what to do with the CAS disk given what it holds: format it
// first (an empty disk, when the host asked) or mount it as it is (ext).
// Anything else is an error: actiond never formats a disk that holds a
// file system or data, whatever the host asked.
func casPlan(dev string, fs Filesystem, format bool) (formatFirst bool, err error) {
	switch fs {
	case Ext:
		return false, nil
	case Empty:
		if !format {
			return false, fmt.Errorf("the CAS disk %s is empty and %s=1 was not given (the host asks for it on first boot only)", dev, keyFormatCAS)
		}
		return true, nil
	case Unknown:
		return false, fmt.Errorf("the CAS disk %s holds data with no file system signature; actiond never reformats a disk: give it an empty image or an ext4 one", dev)
	}
	return false, fmt.Errorf("the CAS disk %s holds a %s filesystem that is not ext4; actiond never reformats a disk: give it an empty image or an ext4 one", dev, fs)
}

// Formatter makes an ext4 file system with e2fsprogs' mke2fs.
type Formatter struct {
	// Mke2fs is the mke2fs binary; in the guest, the one the initramfs
	// carries (DefaultMke2fs).
	Mke2fs string
	// Env is its environment, e.g. LD_LIBRARY_PATH for the initramfs's
	// libraries; nil means none.
	Env []string
}

// Format makes ext4 on dev. Callers check that dev is empty first (see
// casPlan); mke2fs runs without -F and with no input, so it also refuses
// a disk it sees a file system on rather than asking.
func (f Formatter) Format(ctx context.Context, dev string) error {
	cmd := exec.CommandContext(ctx, f.Mke2fs,
		"-t", "ext4",
		"-q",
		"-L", "actiond-cas",
		// A CAS has no use for blocks reserved to root.
		"-m", "0",
		// The kernel zeroes inode tables and the journal in the
		// background, and the disk is empty already (nothing to
		// discard), so the first boot is not spent writing zeros.
		"-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
		dev)
	cmd.Env = f.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s on %s: %w: %s", f.Mke2fs, dev, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// detectDevice opens dev and reports what it holds.
func detectDevice(dev string) (Filesystem, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return Detect(f)
}
