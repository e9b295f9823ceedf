package squashfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// openData opens the contents of the file n and returns them with a name
// for errors. The reader may hold more than n.size bytes when the host file
// grew since it was added; callers check.
func (n *inode) openData() (io.ReadCloser, string, error) {
	if n.hostPath == "" {
		return io.NopCloser(bytes.NewReader(n.data)), "in-memory file", nil
	}
	f, err := os.Open(n.hostPath)
	if err != nil {
		return nil, "", err
	}
	if !n.inArchive {
		return f, n.hostPath, nil
	}
	section := io.NewSectionReader(f, n.hostOffset, n.size)
	return struct {
		io.Reader
		io.Closer
	}{section, f}, fmt.Sprintf("%s (at offset %d)", n.hostPath, n.hostOffset), nil
}
