package runtimes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/actiond/actiond/go/internal/rmtree"
)

// stampFileName holds the sha256 of the image a directory was unpacked
// from. It sits inside the unpacked directory so that it appears and
// disappears with it in one rename.
const stampFileName = ".actiond-image-sha256"

// UnpackImage unpacks the SquashFS image into dir with unsquashfs, for
// hosts where mounting is not allowed. It unpacks into a temporary sibling
// and renames it into place, so dir is either complete or absent; if dir
// already holds this image (same sha256), it does nothing.
func UnpackImage(ctx context.Context, image, dir string) error {
	sum, err := fileSHA256(image)
	if err != nil {
		return err
	}
	if stamp, err := os.ReadFile(filepath.Join(dir, stampFileName)); err == nil && strings.TrimSpace(string(stamp)) == sum {
		return nil
	}
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".unpack-")
	if err != nil {
		return err
	}
	defer func() { _ = rmtree.Remove(tmp) }()
	unpacked := filepath.Join(tmp, "image")
	// unsquashfs creates the -d directory itself; -no-xattrs because
	// runtime images have none and unprivileged users cannot set them.
	cmd := exec.CommandContext(ctx, "unsquashfs", "-no-progress", "-no-xattrs", "-d", unpacked, image)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("unsquashfs %s: %w: %s", image, err, strings.TrimSpace(lastLines(string(out), 5)))
	}
	if err := os.WriteFile(filepath.Join(unpacked, stampFileName), []byte(sum+"\n"), 0o444); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err == nil {
		old := filepath.Join(tmp, "old")
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("moving the previous %s aside: %w", dir, err)
		}
	}
	if err := os.Rename(unpacked, dir); err != nil {
		return err
	}
	return nil
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
