package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// scratchParent picks the directory --exercise-filesystem works in: the
// parent of the first requested output, which the action may write to in
// every execution mode.
func scratchParent(cfg *config) string {
	switch {
	case cfg.outFile != "":
		return filepath.Dir(cfg.outFile)
	case cfg.outExtraFile != "":
		return filepath.Dir(cfg.outExtraFile)
	case cfg.outDir != "":
		return filepath.Dir(cfg.outDir)
	default:
		return filepath.Dir(cfg.symlinks[0])
	}
}

// exerciseFilesystem runs the file operations real build tools rely on in a
// scratch directory under parent and in the temporary directory, checks each
// result, and removes everything again so the outputs stay deterministic.
// It guards against sandboxes whose output or /tmp filesystem lacks rename,
// hard links, symlinks or chmod.
func exerciseFilesystem(parent string) (err error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("exercise filesystem: %w", err)
	}
	for _, base := range []string{parent, os.TempDir()} {
		dir, err := os.MkdirTemp(base, ".stress-exercise-")
		if err != nil {
			return fmt.Errorf("exercise filesystem: %w", err)
		}
		err = exerciseIn(dir)
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = fmt.Errorf("exercise filesystem: remove scratch dir: %w", rerr)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func exerciseIn(dir string) error {
	want := []byte("exercise\n")
	deep := filepath.Join(dir, "a", "b", "c")
	steps := []struct {
		what string
		do   func() error
	}{
		{"mkdir -p", func() error { return os.MkdirAll(deep, 0o755) }},
		{"write", func() error { return os.WriteFile(filepath.Join(deep, "f.tmp"), want, 0o644) }},
		{"rename", func() error { return os.Rename(filepath.Join(deep, "f.tmp"), filepath.Join(deep, "f")) }},
		{"hard link", func() error { return os.Link(filepath.Join(deep, "f"), filepath.Join(dir, "hard")) }},
		{"symlink", func() error { return os.Symlink("a/b/c/f", filepath.Join(dir, "soft")) }},
		{"chmod", func() error { return os.Chmod(filepath.Join(dir, "hard"), 0o755) }},
		{"read through symlink", func() error {
			got, err := os.ReadFile(filepath.Join(dir, "soft"))
			if err == nil && !bytes.Equal(got, want) {
				err = fmt.Errorf("got %q, want %q", got, want)
			}
			return err
		}},
		{"check link count and mode", func() error {
			info, err := os.Stat(filepath.Join(deep, "f"))
			if err != nil {
				return err
			}
			if info.Mode().Perm() != 0o755 {
				return fmt.Errorf("got mode %v after chmod through the hard link, want 0755", info.Mode().Perm())
			}
			return nil
		}},
		{"rename directory", func() error { return os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "z")) }},
		{"dangling symlink", func() error {
			if _, err := os.Stat(filepath.Join(dir, "soft")); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("got %v after renaming its target away, want not-exist", err)
			}
			return nil
		}},
		{"unlink", func() error { return os.Remove(filepath.Join(dir, "hard")) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("exercise filesystem in %s: %s: %w", dir, s.what, err)
		}
	}
	return nil
}
