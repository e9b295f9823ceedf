package runtimes

import (
	"fmt"
	"strings"
)

// CheckRuntimeNames refuses a set of image paths (as given to the image
// packer: "libc/glibc2.36/x86_64", "shell/bash/x86_64",
// "rootfs/gcc12/aarch64", ...) in which one runtime name is used by two
// kinds, since Open would refuse the image. The shell runtime's name is
// "bash". Paths of other forms are ignored.
func CheckRuntimeNames(imagePaths []string) error {
	kindOf := map[string]string{} // name -> kind
	pathOf := map[string]string{} // name -> first image path
	for _, p := range imagePaths {
		parts := strings.Split(strings.Trim(p, "/"), "/")
		if len(parts) < 2 {
			continue
		}
		kind, name := parts[0], parts[1]
		switch kind {
		case KindLibc, KindRootfs:
		case KindShell:
			name = "bash"
		default:
			continue
		}
		if prev, ok := kindOf[name]; ok && prev != kind {
			return fmt.Errorf("runtime name %q is used by both %s and %s: names must be unique across kinds", name, pathOf[name], p)
		}
		kindOf[name], pathOf[name] = kind, p
	}
	return nil
}
