package vm_test

import (
	"syscall"
	"testing"
)

// statBlocks is the number of 512-byte blocks allocated to path.
func statBlocks(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks)
}
