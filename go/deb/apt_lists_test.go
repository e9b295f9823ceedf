package deb

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// toolchainRoots is the package list of the Debian 12 toolchain runtime.
var toolchainRoots = []string{"gcc", "g++", "binutils", "libc6-dev", "libstdc++-12-dev", "bash", "coreutils"}

// TestResolveAptLists resolves the toolchain runtime's packages against the
// Packages indexes apt downloaded on this machine (amd64), and against the
// arm64 ones in $ACTIOND_APT_LISTS_ARM64 if set (a private apt-get update,
// as e2e/build_local_runtimes.sh does).
func TestResolveAptLists(t *testing.T) {
	if testing.Short() {
		t.Skip("reads tens of megabytes of indexes")
	}
	dirs := map[string]string{"amd64": "/var/lib/apt/lists"}
	if d := os.Getenv("ACTIOND_APT_LISTS_ARM64"); d != "" {
		dirs["arm64"] = d
	}
	for arch, dir := range dirs {
		t.Run(arch, func(t *testing.T) {
			var indexes []*Index
			for _, p := range aptLists(t, dir, arch) {
				idx, err := ReadIndexFile(p)
				if err != nil {
					t.Fatal(err)
				}
				indexes = append(indexes, idx)
			}
			if _, err := Resolve(indexes, []string{"gcc-12"}, ResolveOptions{Arch: arch}); err != nil {
				t.Skipf("these indexes are not Debian 12's (no gcc-12): %v", err)
			}
			for _, includeEssential := range []bool{false, true} {
				opts := ResolveOptions{Arch: arch, IncludeEssential: includeEssential}
				start := time.Now()
				res, err := Resolve(indexes, toolchainRoots, opts)
				if err != nil {
					t.Fatal(err)
				}
				elapsed := time.Since(start)
				l, err := NewLock(res, toolchainRoots, opts)
				if err != nil {
					t.Fatal(err)
				}
				var bytesTotal int64
				have := map[string]bool{}
				for _, p := range l.Packages {
					bytesTotal += p.Size
					have[p.Name] = true
					if p.Archive == "" || p.Suite == "" {
						t.Errorf("%s: no archive or suite in the lock", p.Name)
					}
				}
				for _, want := range append([]string{"gcc-12", "cpp-12", "libc6", "libstdc++6", "libmpc3"}, toolchainRoots...) {
					if !have[want] {
						t.Errorf("closure lacks %s", want)
					}
				}
				first, _ := l.Marshal()
				res2, err := Resolve(indexes, toolchainRoots, opts)
				if err != nil {
					t.Fatal(err)
				}
				l2, _ := NewLock(res2, toolchainRoots, opts)
				if second, _ := l2.Marshal(); !bytes.Equal(first, second) {
					t.Error("two resolutions gave different locks")
				}
				t.Logf("%s include_essential=%v: %d packages, %d bytes, %d excluded (%s), suites %s, resolved in %v",
					arch, includeEssential, len(l.Packages), bytesTotal, len(l.Excluded), strings.Join(l.Excluded, " "),
					strings.Join(l.Suites, ","), elapsed)
			}
		})
	}
}
