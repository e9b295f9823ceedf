package payload

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Result says what [Payload.Extract] did.
type Result struct {
	// Path is <root>/embedded/<name>-<sha256>, holding the content.
	Path string
	// Extracted is false when the file was already there with the right
	// size and hash, and nothing was written.
	Extracted bool
	// Replaced is true when a file with the wrong content was at Path and
	// was replaced.
	Replaced bool
}

const (
	// EmbeddedDir is the directory under the root that Extract writes to.
	EmbeddedDir = "embedded"
	tempPrefix  = ".tmp-"
	// staleAge is the age after which a temporary file is taken to be a
	// crashed extraction's and removed. A running extraction rewrites its
	// file every chunk, so it never gets this old.
	staleAge = time.Hour
)

// Extract makes <root>/embedded/<name>-<sha256> hold the content, writing
// it only when the file is missing or wrong (see the package doc), and
// calls progress, if not nil, after each chunk written with the bytes
// written so far and the total. The file is read-only (mode 0444). Extract
// may run in several goroutines and processes at once on the same root.
func (p *Payload) Extract(ctx context.Context, root string, progress func(done, total int64)) (Result, error) {
	dir := filepath.Join(root, EmbeddedDir)
	res := Result{Path: filepath.Join(dir, p.FileName())}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, p.errorf("%w", err)
	}
	removeStaleTemps(dir, time.Now())
	ok, exists, err := p.matches(ctx, res.Path)
	if err != nil || ok {
		return res, err
	}
	if err := p.writeFile(ctx, dir, res.Path, progress); err != nil {
		return res, err
	}
	res.Extracted, res.Replaced = true, exists
	return res, nil
}

// matches reports whether path holds the content, and whether anything
// is at path at all.
func (p *Payload) matches(ctx context.Context, path string) (ok, exists bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, p.errorf("%w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != p.size {
		return false, true, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, true, p.errorf("%w", err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, copyBuffer)
	for {
		if err := ctx.Err(); err != nil {
			return false, true, err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, true, p.errorf("hashing %s: %w", path, err)
		}
	}
	return p.checkSum(h) == nil, true, nil
}

// writeFile extracts the content to a new temporary file in dir and
// renames it to path once it is complete, synced and verified.
func (p *Payload) writeFile(ctx context.Context, dir, path string, progress func(done, total int64)) (err error) {
	// CreateTemp opens with O_EXCL and a random suffix: concurrent
	// extractions never share a temporary file.
	f, err := os.CreateTemp(dir, tempPrefix+p.name+"-*")
	if err != nil {
		return p.errorf("%w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := p.copyTo(ctx, f, progress); err != nil {
		return err
	}
	if err := f.Chmod(0o444); err != nil {
		return p.errorf("%w", err)
	}
	if err := f.Sync(); err != nil {
		return p.errorf("syncing %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return p.errorf("%w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return p.errorf("%w", err)
	}
	renamed = true
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// removeStaleTemps removes the temporary files in dir that were last
// written more than staleAge before now. Failures are ignored: another
// process may be removing the same file, and a leftover is never used.
func removeStaleTemps(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && now.Sub(fi.ModTime()) > staleAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
