// Package vmtest gives the tests that boot actiond's x86_64 guest under
// QEMU their kernel and initramfs, or skips them saying what is missing.
// test_all.sh builds both once and names them in ACTIOND_TEST_KERNEL_X86_64
// and ACTIOND_TEST_INITRAMFS_X86_64.
package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Kernel returns the x86_64 guest kernel: ACTIOND_TEST_KERNEL_X86_64, else
// the last one kernel/build.sh published in its cache. It skips the test on
// another architecture, without qemu-system-x86_64 or without a kernel.
func Kernel(t testing.TB) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("boots the x86_64 guest")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skipf("QEMU is not installed (apt-get install qemu-system-x86): %v", err)
	}
	kernel := os.Getenv("ACTIOND_TEST_KERNEL_X86_64")
	if kernel == "" {
		kernel = "/var/cache/actiond/kernel/latest-x86_64/bzImage"
	}
	if _, err := os.Stat(kernel); err != nil {
		t.Skipf("no x86_64 guest kernel (kernel/build.sh x86_64, or set ACTIOND_TEST_KERNEL_X86_64): %v", err)
	}
	return kernel
}

// Initramfs returns the x86_64 guest initramfs: ACTIOND_TEST_INITRAMFS_X86_64,
// else one built now with repo's vm/build_initramfs.sh (repo is the
// repository root, relative to the test's directory). It skips the test when
// the build fails, which needs apt access.
func Initramfs(t testing.TB, repo string) string {
	t.Helper()
	if initramfs := os.Getenv("ACTIOND_TEST_INITRAMFS_X86_64"); initramfs != "" {
		return initramfs
	}
	initramfs := filepath.Join(t.TempDir(), "initramfs.cpio.zst")
	script := filepath.Join(repo, "vm", "build_initramfs.sh")
	if out, err := exec.Command("bash", script, "amd64", initramfs).CombinedOutput(); err != nil {
		t.Skipf("%s (needs apt access; or set ACTIOND_TEST_INITRAMFS_X86_64): %v\n%s", script, err, out)
	}
	return initramfs
}
