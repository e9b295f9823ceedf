//go:build darwin

// Package good calls the vz API correctly.
package good

import "github.com/Code-Hex/vz/v3"

// Boot makes a boot loader.
func Boot() (*vz.LinuxBootLoader, error) {
	return vz.NewLinuxBootLoader("/kernel", vz.WithCommandLine("console=hvc0"), vz.WithInitrd("/initrd"))
}
