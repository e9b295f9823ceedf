// Package diskfill fills file systems up, for the tests of what the CAS
// does when its disk is full.
package diskfill

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
)

// Fill writes path until the file system holding it has no room left, in
// shrinking pieces so that not even a block is left, and flushes it so
// that delayed allocation has counted every block.
func Fill(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for piece := 1 << 20; piece >= 512; piece /= 2 {
		buf := bytes.Repeat([]byte{'f'}, piece)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
}
