package squashfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// AddTar adds the entries of the uncompressed tar archive tarPath at
// imagePath ("" for the root). Entry names are relative to imagePath; an
// entry "." or "./" gives imagePath its permission bits, which are 0755
// otherwise. The archive holds directories, regular files, symlinks and
// hard links to earlier entries of the same archive, which share their
// inode; anything else is refused with ErrUnsupportedFileType, and paths
// already added with ErrDuplicatePath. Owners and times in the archive are
// ignored, as for AddTree. File contents are read from tarPath during
// WriteTo, so it must not change until then.
func (b *Builder) AddTar(imagePath, tarPath string) error {
	rootParts, err := splitImagePath(imagePath)
	if err != nil {
		return err
	}
	root, err := b.claimDir(rootParts, 0o755)
	if err != nil {
		return err
	}
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	// Non-directory entries by cleaned name, for hard links.
	entries := map[string]*inode{}
	rootSeen := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", tarPath, err)
		}
		name := strings.TrimPrefix(strings.TrimSuffix(hdr.Name, "/"), "./")
		if name == "." || name == "" {
			if hdr.Typeflag != tar.TypeDir || rootSeen {
				return fmt.Errorf("%w: %s: entry %q for the archive's root", ErrInvalidPath, tarPath, hdr.Name)
			}
			rootSeen = true
			root.perm = permBits(hdr.FileInfo().Mode())
			continue
		}
		entryParts, err := splitImagePath(name)
		if err != nil || strings.HasPrefix(name, "/") {
			return fmt.Errorf("%w: %s: entry %q", ErrInvalidPath, tarPath, hdr.Name)
		}
		parts := append(append([]string(nil), rootParts...), entryParts...)
		if err := b.addTarEntry(parts, name, hdr, tarPath, cr.n, entries); err != nil {
			return fmt.Errorf("%s: entry %q: %w", tarPath, hdr.Name, err)
		}
	}
}

func (b *Builder) addTarEntry(parts []string, name string, hdr *tar.Header, tarPath string, offset int64, entries map[string]*inode) error {
	var n *inode
	switch hdr.Typeflag {
	case tar.TypeDir:
		_, err := b.claimDir(parts, permBits(hdr.FileInfo().Mode()))
		return err
	case tar.TypeReg:
		for key := range hdr.PAXRecords {
			// Sparse files' data is not one run of bytes in the archive.
			if strings.HasPrefix(key, "GNU.sparse.") {
				return fmt.Errorf("%w: sparse file", ErrUnsupportedFileType)
			}
		}
		n = &inode{kind: kindFile, perm: permBits(hdr.FileInfo().Mode()), hostPath: tarPath, hostOffset: offset, inArchive: true, size: hdr.Size}
	case tar.TypeSymlink:
		if err := checkTarget(hdr.Linkname); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidPath, err)
		}
		n = &inode{kind: kindSymlink, perm: 0o777, target: hdr.Linkname}
	case tar.TypeLink:
		target := strings.TrimPrefix(hdr.Linkname, "./")
		if n = entries[target]; n == nil {
			return fmt.Errorf("%w: hard link to %q, which is not an earlier file or symlink of the archive", ErrInvalidPath, hdr.Linkname)
		}
	default:
		return fmt.Errorf("%w: tar type %q", ErrUnsupportedFileType, hdr.Typeflag)
	}
	if err := b.insert(parts, n); err != nil {
		return err
	}
	entries[name] = n
	return nil
}

// countingReader counts the bytes read through it: after tar.Reader.Next,
// the offset of the entry's data in the archive.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}
