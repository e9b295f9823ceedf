package vm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CASImage is the raw disk image the guest keeps its CAS on, locked for one
// VM. The host never writes to it after creating it: the guest formats and
// owns the filesystem.
type CASImage struct {
	// Path is the image file.
	Path string
	// SizeBytes is its size: the requested size for a new image, the
	// existing size otherwise (an image is never resized).
	SizeBytes int64
	// Created reports that this call created the image.
	Created bool
	// Fresh reports that the image holds no data at all, so the guest may
	// format it: it was just created, or an earlier first boot stopped
	// before formatting it. Zero bytes are no filesystem, so formatting
	// them loses nothing.
	Fresh bool

	f *os.File
}

// OpenCASImage opens the CAS image at path, creating it as a sparse file of
// sizeMiB when it is missing (or empty), and locks it so that a second VM on
// the same image is refused while this one runs. It never truncates or
// rewrites an existing image. Close releases the lock.
func OpenCASImage(path string, sizeMiB int64) (*CASImage, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("--cas-image %s: %v", path, err)
	}
	// No O_TRUNC: an existing image is opened as it is.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--cas-image %s cannot be opened read-write (%v): fix its permissions or give another path", path, errors.Unwrap(err))
	}
	img := &CASImage{Path: path, f: f}
	if err := img.open(sizeMiB); err != nil {
		f.Close()
		return nil, err
	}
	return img, nil
}

func (img *CASImage) open(sizeMiB int64) error {
	if err := lockFile(img.f); errors.Is(err, errLocked) {
		return fmt.Errorf("--cas-image %s is in use by another serve-vm: stop that one or give another --cas-image", img.Path)
	} else if err != nil {
		return err
	}
	st, err := img.f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("--cas-image %s is not a regular file: give the path of an image file", img.Path)
	}
	img.SizeBytes = st.Size()
	if img.SizeBytes == 0 {
		// New, or created by a process that died before sizing it. Under
		// the lock nobody else can be sizing it now.
		img.SizeBytes = sizeMiB << 20
		if err := img.f.Truncate(img.SizeBytes); err != nil {
			return fmt.Errorf("--cas-image %s cannot be sized to %d MiB (%v): free disk space or give a smaller --cas-image-size-mib", img.Path, sizeMiB, err)
		}
		img.Created = true
	}
	img.Fresh = img.Created || !holdsData(img.f)
	return nil
}

// holdsData reports whether f has any data extent. Filesystems without
// hole reporting say the whole file is data, which errs on the safe side.
func holdsData(f *os.File) bool {
	_, err := unix.Seek(int(f.Fd()), 0, unix.SEEK_DATA)
	return !errors.Is(err, unix.ENXIO)
}

// Close releases the lock.
func (img *CASImage) Close() error { return img.f.Close() }
