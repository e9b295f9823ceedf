package deb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Fetch downloads every package of l into dir, named by the base name of
// its Filename (archive root + "/" + Filename), and checks its size and
// sha256. A file already in dir with the pinned hash is kept. A download
// goes to a temporary file in dir that is renamed only once it matches, so
// the final name never holds a partial or wrong file. It returns the paths
// in the lock's order, and on failure one error per package that failed,
// in the lock's order.
func Fetch(ctx context.Context, l *Lock, dir string, opts FetchOptions) ([]string, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if opts.Progress == nil {
		opts.Progress = noProgress{}
	}
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	paths := make([]string, len(l.Packages))
	errs := make([]error, len(l.Packages))
	var g errgroup.Group
	g.SetLimit(parallel)
	for i, p := range l.Packages {
		paths[i] = filepath.Join(dir, path.Base(p.Filename))
		g.Go(func() error {
			errs[i] = fetchOne(ctx, client, p, opts.Archive, paths[i], opts.Progress)
			if errs[i] == nil {
				opts.Progress.AddItems(1)
			}
			return nil
		})
	}
	g.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return paths, nil
}

func fetchOne(ctx context.Context, client *http.Client, p LockedPackage, defaultArchive, dest string, progress FetchProgress) error {
	what := fmt.Sprintf("package %s %s (%s)", p.Name, p.Version, p.Arch)
	if sum, size, err := hashFile(dest); err == nil && sum == p.SHA256 && size == p.Size {
		progress.AddBytes(size)
		return nil
	}
	archive := p.Archive
	if archive == "" {
		archive = defaultArchive
	}
	if archive == "" {
		return fmt.Errorf("%s: the lock names no archive and none was given", what)
	}
	url := strings.TrimSuffix(archive, "/") + "/" + p.Filename
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: GET %s: %s", what, url, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-*")
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	// One byte more than pinned is enough to tell that the file is too big
	// without reading an endless body.
	n, err := io.Copy(io.MultiWriter(tmp, h, countingWriter{progress}), io.LimitReader(resp.Body, p.Size+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", what, url, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	switch {
	case n != p.Size:
		return fmt.Errorf("%s: %s: size %d, want %d (sha256 %s, want %s): %w", what, url, n, p.Size, got, p.SHA256, ErrHashMismatch)
	case got != p.SHA256:
		return fmt.Errorf("%s: %s: sha256 %s, want %s: %w", what, url, got, p.SHA256, ErrHashMismatch)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func hashFile(name string) (string, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// countingWriter counts what it is given as bytes fetched.
type countingWriter struct{ progress FetchProgress }

func (w countingWriter) Write(p []byte) (int, error) {
	w.progress.AddBytes(int64(len(p)))
	return len(p), nil
}

// noProgress is the FetchProgress of a Fetch that reports to nobody.
type noProgress struct{}

func (noProgress) AddBytes(int64) {}
func (noProgress) AddItems(int64) {}
