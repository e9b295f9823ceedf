package runtimes_test

import (
	"strings"
	"testing"

	"github.com/actiond/actiond/go/runtimes"
)

func TestCheckRuntimeNames(t *testing.T) {
	for _, tc := range []struct {
		name     string
		paths    []string
		wantText string // "" for no error
	}{
		{"distinct", []string{"libc/glibc2.36/x86_64", "libc/glibc2.36/aarch64", "shell/bash/x86_64", "rootfs/gcc12/x86_64", "rootfs/gcc12/aarch64"}, ""},
		{"other paths", []string{"common/root/etc", "libc", "extra/glibc2.36/x86_64", "libc/glibc2.36/x86_64"}, ""},
		{"rootfs named like a libc", []string{"libc/glibc2.36/x86_64", "rootfs/glibc2.36/aarch64"},
			`runtime name "glibc2.36" is used by both libc/glibc2.36/x86_64 and rootfs/glibc2.36/aarch64`},
		{"rootfs named bash", []string{"shell/bash/x86_64", "rootfs/bash/x86_64"}, `runtime name "bash"`},
		{"libc named bash", []string{"libc/bash/x86_64/", "shell/bash/x86_64"}, `runtime name "bash"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runtimes.CheckRuntimeNames(tc.paths)
			if tc.wantText == "" {
				if err != nil {
					t.Fatalf("CheckRuntimeNames(%q): %v", tc.paths, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("CheckRuntimeNames(%q): got %v, want an error containing %q", tc.paths, err, tc.wantText)
			}
		})
	}
}
