package main

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
)

// Mode bits of cpio entries (the st_mode of stat(2)).
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
	modeChar    = 0o020000
)

// entry is one file of the archive.
type entry struct {
	mode      uint32 // type and permission bits
	data      []byte // regular file content, symlink target
	rdevMajor uint32
	rdevMinor uint32
}

// archive is the initramfs's files by path (relative, no leading slash).
type archive struct {
	entries map[string]*entry
}

// bootDirs are the mount points the guest uses; they exist in the archive
// so that /init needs to create none before /proc is mounted.
var bootDirs = []string{"cas", "dev", "proc", "run", "runtimes", "sys", "tmp"}

func newArchive() *archive {
	a := &archive{entries: map[string]*entry{}}
	for _, d := range bootDirs {
		a.entries[d] = &entry{mode: modeDir | 0o755}
	}
	a.entries["tmp"].mode = modeDir | 0o1777
	// The kernel opens /dev/console as init's stdin, stdout and stderr
	// before devtmpfs is mounted: without the node, init starts with
	// neither.
	a.entries["dev/console"] = &entry{mode: modeChar | 0o600, rdevMajor: 5, rdevMinor: 1}
	return a
}

// addHostFile adds the content of the host file src as name.
func (a *archive) addHostFile(name, src string, perm os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	a.entries[name] = &entry{mode: modeRegular | uint32(perm), data: b}
	return nil
}

func (a *archive) addSymlink(name, target string) {
	a.entries[name] = &entry{mode: modeSymlink | 0o777, data: []byte(target)}
}

// write writes the archive as newc cpio: parent directories first, every
// path in sorted order.
func (a *archive) write(w io.Writer) error {
	for name := range a.entries {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := a.entries[d]; !ok {
				a.entries[d] = &entry{mode: modeDir | 0o755}
			}
		}
	}
	names := make([]string, 0, len(a.entries))
	for name := range a.entries {
		names = append(names, name)
	}
	// Sorted order puts every directory before what it holds.
	sort.Strings(names)
	for i, name := range names {
		e := a.entries[name]
		nlink := uint32(1)
		if e.mode&0o170000 == modeDir {
			nlink = 2
		}
		if err := writeEntry(w, uint32(i+1), name, e.mode, nlink, e.rdevMajor, e.rdevMinor, e.data); err != nil {
			return err
		}
	}
	return writeEntry(w, 0, "TRAILER!!!", 0, 1, 0, 0, nil)
}

// writeEntry writes one newc header ("070701": 13 eight-digit hex fields),
// the NUL-terminated name and the data, each padded to 4 bytes. Owner,
// mtime and the device of the archive itself are 0.
func writeEntry(w io.Writer, ino uint32, name string, mode, nlink, rdevMajor, rdevMinor uint32, data []byte) error {
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	buf := append([]byte(hdr), name...)
	buf = append(buf, 0)
	buf = append(buf, make([]byte, pad4(len(buf)))...)
	buf = append(buf, data...)
	buf = append(buf, make([]byte, pad4(len(data)))...)
	_, err := w.Write(buf)
	return err
}

func pad4(n int) int { return (4 - n%4) % 4 }
