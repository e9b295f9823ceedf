package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
)

// maxScanDepth bounds the walk so a symlink cycle fails instead of looping.
const maxScanDepth = 64

// scanResult is what the scan of all --scan roots produced.
type scanResult struct {
	files int
	hash  string
	// entries holds "sha256  path" per file, in scan order, for the manifest.
	entries []string
}

// scan hashes the given roots in order. Each root is walked in sorted order;
// symlinks are followed (a dangling one is hashed by its target) so the
// result is the same whether Bazel materialised the inputs as a symlink
// forest (local), bind-mounted symlinks (linux-sandbox) or regular files
// (remote execution). Paths are hashed as given (relative to the execroot), so
// they do not depend on where the execroot lives.
func scan(roots []string) (*scanResult, error) {
	res := &scanResult{}
	h := sha256.New()
	for i, root := range roots {
		rel := filepath.ToSlash(filepath.Clean(root))
		fmt.Fprintf(h, "root\x00%d\x00%s\x00", i, rel)
		if err := scanPath(h, res, root, rel, 0); err != nil {
			return nil, err
		}
	}
	res.hash = hex.EncodeToString(h.Sum(nil))
	return res, nil
}

func scanPath(h hash.Hash, res *scanResult, p, rel string, depth int) error {
	if depth > maxScanDepth {
		return fmt.Errorf("scan %s: deeper than %d levels (symlink cycle?)", p, maxScanDepth)
	}
	info, err := os.Stat(p)
	if err != nil {
		target, lerr := os.Readlink(p)
		if lerr != nil {
			return fmt.Errorf("scan: %w", err)
		}
		fmt.Fprintf(h, "dangling\x00%s\x00%s\x00", rel, target)
		return nil
	}
	if info.IsDir() {
		fmt.Fprintf(h, "dir\x00%s\x00", rel)
		names, err := readDirNames(p)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := scanPath(h, res, filepath.Join(p, n), path.Join(rel, n), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("scan %s: not a regular file or directory (%s)", p, info.Mode().Type())
	}
	sum, err := hashFile(p)
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "file\x00%s\x00%s\x00%s\x00", rel, strconv.FormatInt(info.Size(), 10), sum)
	res.files++
	res.entries = append(res.entries, sum+"  "+rel)
	return nil
}

func readDirNames(p string) ([]string, error) {
	d, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("scan: read dir %s: %w", p, err)
	}
	sort.Strings(names)
	return names, nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("scan: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("scan: read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
