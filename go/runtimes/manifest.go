package runtimes

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
)

// ManifestFileName is the name of the manifest in each runtime directory.
const ManifestFileName = "runtime_manifest.json"

// ManifestVersion is the manifest format this package writes and reads.
const ManifestVersion = 1

// Runtime kinds.
const (
	KindLibc  = "libc"
	KindShell = "shell"
	// KindRootfs is a whole root file system (a toolchain with its own
	// libc and shell) whose top-level directories become the action's.
	KindRootfs = "rootfs"
)

// Manifest describes one runtime directory of an image. The JSON format is
// documented in runtimes/README.md.
type Manifest struct {
	// Version is the manifest format version, ManifestVersion.
	Version int `json:"version"`
	// Name is the value actions select the runtime with, such as
	// "glibc2.36", or "bash" for the shell.
	Name string `json:"name"`
	// Kind is KindLibc, KindShell or KindRootfs.
	Kind string `json:"kind"`
	// Arch is the machine name, "x86_64" or "aarch64".
	Arch string `json:"arch"`
	// Debs lists the packages the runtime was built from, in build order.
	Debs []Deb `json:"debs"`
	// Mounts lists the directories bound into the sandbox.
	Mounts []ManifestMount `json:"mounts"`
	// Interpreters lists the ELF PT_INTERP paths of the runtime's files,
	// sorted: the dynamic loaders programs built against it expect.
	Interpreters []string `json:"interpreters"`
}

// Deb identifies one source package of a runtime.
type Deb struct {
	// File is the .deb file name, such as "libc6_2.36-9+deb12u14_amd64.deb".
	File string `json:"file"`
	// SHA256 is the lowercase hex sha256 of the .deb file.
	SHA256 string `json:"sha256"`
	// Package, Version and Architecture come from the control file.
	Package      string `json:"package"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
}

// ManifestMount is one bind mount of a runtime.
type ManifestMount struct {
	// ImagePath is relative to the runtime directory, such as "root/lib".
	ImagePath string `json:"image_path"`
	// SandboxPath is the absolute mount point in the sandbox, such as "/lib".
	SandboxPath string `json:"sandbox_path"`
}

// Arch names the machine architectures runtimes are built for.
var archByGOARCH = map[string]string{
	"amd64": "x86_64",
	"arm64": "aarch64",
}

// ArchForGOARCH returns the runtime arch name ("x86_64", "aarch64") for a
// Go GOARCH, or "" if no runtime exists for it.
func ArchForGOARCH(goarch string) string { return archByGOARCH[goarch] }

// Validate checks the manifest's fields, so that a reader can trust the
// paths in it.
func (m *Manifest) Validate() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("manifest version %d, want %d", m.Version, ManifestVersion)
	}
	if !validName(m.Name) {
		return fmt.Errorf("runtime name %q: want letters, digits, '.', '_' or '-'", m.Name)
	}
	if m.Kind != KindLibc && m.Kind != KindShell && m.Kind != KindRootfs {
		return fmt.Errorf("runtime %s: kind %q, want %q, %q or %q", m.Name, m.Kind, KindLibc, KindShell, KindRootfs)
	}
	if m.Arch != "x86_64" && m.Arch != "aarch64" {
		return fmt.Errorf("runtime %s: arch %q, want x86_64 or aarch64", m.Name, m.Arch)
	}
	for _, mount := range m.Mounts {
		p := mount.ImagePath
		if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
			return fmt.Errorf("runtime %s: image_path %q must be a clean relative path inside the runtime", m.Name, p)
		}
		s := mount.SandboxPath
		if !path.IsAbs(s) || path.Clean(s) != s || s == "/" {
			return fmt.Errorf("runtime %s: sandbox_path %q must be a clean absolute path below /", m.Name, s)
		}
	}
	return nil
}

func validName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Marshal returns the manifest as indented JSON with a trailing newline;
// the same manifest always gives the same bytes.
func (m *Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ReadManifest reads and validates the manifest file at name. Unknown
// fields are rejected, so a newer format is not silently misread.
func ReadManifest(name string) (*Manifest, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: %w", name, errors.New("trailing data after the manifest"))
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &m, nil
}
