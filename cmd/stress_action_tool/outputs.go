package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeOutputs writes every requested output. Contents depend only on the
// flags and the scanned inputs, never on the environment.
func writeOutputs(cfg *config, sum *scanResult) error {
	var checkNames []string
	for _, c := range cfg.checks {
		checkNames = append(checkNames, c.name)
	}
	checks := strings.Join(checkNames, ",")
	if checks == "" {
		checks = "none"
	}
	if cfg.exerciseFS {
		if err := exerciseFilesystem(scratchParent(cfg)); err != nil {
			return err
		}
	}
	if cfg.outFile != "" {
		body := fmt.Sprintf("inputs=%d\nhash=%s\nchecks=%s\n", sum.files, sum.hash, checks)
		if err := writeFile(cfg.outFile, []byte(body)); err != nil {
			return err
		}
	}
	if cfg.outExtraFile != "" {
		var b strings.Builder
		for _, e := range sum.entries {
			b.WriteString(e)
			b.WriteByte('\n')
		}
		if err := writeFile(cfg.outExtraFile, []byte(b.String())); err != nil {
			return err
		}
	}
	if cfg.outDir != "" {
		if err := os.MkdirAll(cfg.outDir, 0o755); err != nil {
			return fmt.Errorf("create --out-dir: %w", err)
		}
		for i := 0; i < cfg.outCount; i++ {
			name := fmt.Sprintf(cfg.outName, i)
			if err := writeFile(filepath.Join(cfg.outDir, name), generatedContent(i, name, sum.hash, cfg.outBytes)); err != nil {
				return err
			}
		}
	}
	for i, link := range cfg.symlinks {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return fmt.Errorf("create parent of --out-symlink: %w", err)
		}
		// Bazel removes stale outputs before running an action, but a
		// rerun by hand should not fail on the previous link.
		if err := os.Remove(link); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove old --out-symlink: %w", err)
		}
		if err := os.Symlink(cfg.symlinkTargets[i], link); err != nil {
			return fmt.Errorf("create --out-symlink: %w", err)
		}
	}
	return nil
}

// generatedContent is the body of the i-th --out-dir file. When minBytes is
// larger than the header, a deterministic filler pads it to exactly minBytes.
func generatedContent(i int, name, hash string, minBytes int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "index=%d\nname=%s\ninputs-hash=%s\n", i, name, hash)
	if b.Len() >= minBytes {
		return b.Bytes()
	}
	for line := 0; b.Len() < minBytes; line++ {
		fmt.Fprintf(&b, "pad %08d %s\n", line, hash)
	}
	b.Truncate(minBytes)
	return b.Bytes()
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("create parent of %s: %w", p, err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
