//go:build darwin

// Package bad calls the vz API wrongly.
package bad

import "github.com/Code-Hex/vz/v3"

// Boot passes an int where vz wants a path.
func Boot() (*vz.LinuxBootLoader, error) {
	return vz.NewLinuxBootLoader("/kernel", vz.WithInitrd(3))
}
