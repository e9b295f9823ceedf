package builder

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// runtimeMode is the mode of every directory and regular file in a runtime
// archive. Runtimes are mounted read-only and nosuid, so write and set-id
// bits would mean nothing; one mode for all keeps the image the same
// whichever way its trees were made (Bazel gives every file and directory
// of a tree artifact this mode).
const runtimeMode = 0o555

// WriteTar writes the runtime directory dir, as Build leaves it, to w as
// an uncompressed tar archive that squashfs.Builder.AddTar reads: a "./"
// entry, then every entry in lexical order, hard links as links to their
// first name, every time 0, every owner root, and runtimeMode for
// directories and files. The same tree always gives the same bytes, so the
// archive is a cacheable build output that a sandboxed or remote action
// can pass on, unlike a directory of hard links.
func WriteTar(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	first := map[[2]uint64]string{} // (dev, ino) -> first name
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{
			Name:    "./" + filepath.ToSlash(rel),
			Mode:    runtimeMode,
			ModTime: time.Unix(0, 0),
			Format:  tar.FormatPAX,
		}
		if rel == "." {
			hdr.Name = "./"
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var data *os.File
		switch mode := info.Mode(); {
		case mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			if rel != "." {
				hdr.Name += "/"
			}
		case hardLinked(first, info, hdr):
		case mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Mode = tar.TypeSymlink, 0o777
			if hdr.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case mode.IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
			if data, err = os.Open(p); err != nil {
				return err
			}
			defer data.Close()
		default:
			return fmt.Errorf("%s: cannot archive a %v", rel, mode.Type())
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if data != nil {
			if _, err := io.Copy(tw, data); err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// hardLinked makes hdr a hard link when info is a file already archived
// under another name, and records hdr's name as the file's first otherwise.
func hardLinked(first map[[2]uint64]string, info fs.FileInfo, hdr *tar.Header) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink < 2 {
		return false
	}
	key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
	if prev, ok := first[key]; ok {
		hdr.Typeflag, hdr.Linkname = tar.TypeLink, prev
		return true
	}
	first[key] = hdr.Name
	return false
}
