package runtimes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/actiond/actiond/go/internal/rmtree"
	"github.com/actiond/actiond/go/squashfs"
)

// stampFileName holds the sha256 of the image a directory was unpacked
// from. It sits inside the unpacked directory so that it appears and
// disappears with it in one rename.
const stampFileName = ".actiond-image-sha256"

// UnpackImage unpacks the SquashFS image into dir with squashfs.Reader, for
// hosts where mounting is not allowed. It unpacks into a temporary sibling
// and renames it into place, so dir is either complete or absent; if dir
// already holds this image (same sha256), it does nothing. What it writes
// is described by unpackTree: the image cannot write outside dir.
// progress, if not nil, is called as it unpacks with the inodes (files,
// directories and symlinks) written so far and their total; it is never
// called when there is nothing to unpack.
func UnpackImage(ctx context.Context, image, dir string, progress func(done, total int64)) error {
	sum, err := FileSHA256(image)
	if err != nil {
		return err
	}
	if stamp, err := os.ReadFile(filepath.Join(dir, stampFileName)); err == nil && strings.TrimSpace(string(stamp)) == sum {
		return nil
	}
	f, err := os.Open(image)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := squashfs.NewReader(f)
	if err != nil {
		return fmt.Errorf("unpacking %s: %w", image, err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".unpack-")
	if err != nil {
		return err
	}
	defer func() { _ = rmtree.Remove(tmp) }()
	unpacked := filepath.Join(tmp, "image")
	// The stamp goes in last, so a directory with a stamp is complete.
	if err := unpackTree(ctx, rd, unpacked, stampFileName, []byte(sum+"\n"), progress); err != nil {
		return fmt.Errorf("unpacking %s: %w", image, err)
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
