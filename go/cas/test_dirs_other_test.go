//go:build !linux

package cas_test

import "testing"

// groupCommitDir returns t.TempDir(): only the Linux tests mount a
// filesystem of their own.
func groupCommitDir(t *testing.T) string {
	t.Helper()
	return t.TempDir()
}

// tmpfsDir returns "": only the Linux tests mount a filesystem of their
// own.
func tmpfsDir(t *testing.T, size int64) string { return "" }
