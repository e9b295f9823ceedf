//go:build linux

package initproc

import (
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// source is a host path opened before chroot so that mounts made after it
// can refer to it as /proc/self/fd/N: resolving targets inside the chroot
// keeps symlinks planted in writable mounts from pointing mounts or mkdirs at
// host paths.
type source struct {
	fd   int
	mode uint32
}

func (s source) path() string { return "/proc/self/fd/" + strconv.Itoa(s.fd) }

func openSource(path string) (source, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return source{}, fmt.Errorf("open mount source %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return source{}, fmt.Errorf("stat mount source %s: %w", path, err)
	}
	return source{fd: fd, mode: st.Mode}, nil
}

// enterRoot opens the host paths of the action's mounts, chroots into the
// prepared skeleton, makes the mounts in order and changes to the working
// directory.
func (si *sandboxInit) enterRoot() error {
	cfg := &si.cfg
	sources, err := openSources(cfg.Mounts)
	if err != nil {
		return err
	}
	if err := unix.Chroot(cfg.Root); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	for i, m := range cfg.Mounts {
		if err := mount(m, sources[i], cfg.Rootless); err != nil {
			return fmt.Errorf("%s mount on %s: %w", m.Kind, m.Target, err)
		}
		for _, s := range sources[i] {
			unix.Close(s.fd)
		}
	}
	if cfg.Rootless {
		for _, m := range cfg.Mounts {
			if m.LockInputs {
				if err := lockInputs(m.Target); err != nil {
					return fmt.Errorf("lock the inputs under %s: %w", m.Target, err)
				}
			}
		}
	}
	if err := unix.Chdir(cfg.Dir); err != nil {
		return fmt.Errorf("chdir to working directory %s: %w", cfg.Dir, err)
	}
	return nil
}

// openSources opens the host paths of each mount: a bind's source; an
// overlay's lower directories, then upper and work.
func openSources(mounts []Mount) ([][]source, error) {
	sources := make([][]source, len(mounts))
	for i, m := range mounts {
		var paths []string
		switch m.Kind {
		case Bind:
			paths = []string{m.Source}
		case Overlay:
			paths = append(paths, m.Lower...)
			if m.Upper != "" {
				paths = append(paths, m.Upper, m.Work)
			}
		}
		for _, path := range paths {
			s, err := openSource(path)
			if err != nil {
				return nil, err
			}
			sources[i] = append(sources[i], s)
		}
	}
	return sources, nil
}

// mount makes one of the action's mounts from its opened sources (see
// openSources); it runs inside the chroot. rootless selects the overlay
// options a user namespace allows.
func mount(m Mount, srcs []source, rootless bool) error {
	if m.Kind == Overlay && len(m.Lower) == 1 && m.Upper == "" {
		// overlayfs refuses a single lower layer without an upper one
		// (EINVAL); a read-only bind shows the same tree.
		m.Kind, m.ReadOnly = Bind, true
	}
	switch m.Kind {
	case Bind:
		return bindMount(m, srcs[0])
	case Overlay:
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return err
		}
		lower := make([]string, len(m.Lower))
		for i := range m.Lower {
			lower[i] = srcs[i].path()
		}
		data := "lowerdir=" + strings.Join(lower, ":")
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
		if m.Upper != "" {
			n := len(m.Lower)
			data += ",upperdir=" + srcs[n].path() + ",workdir=" + srcs[n+1].path()
		}
		if m.Upper == "" || m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		if rootless {
			// trusted.* xattrs need CAP_SYS_ADMIN in the initial user namespace.
			data += ",userxattr"
		}
		return unix.Mount("overlay", m.Target, "overlay", flags, data)
	case Tmpfs:
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return err
		}
		flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		return unix.Mount("tmpfs", m.Target, "tmpfs", flags, "mode=1777")
	}
	return fmt.Errorf("unknown mount kind %d", m.Kind)
}

// bindMount binds src recursively on m.Target, creating a directory or an
// empty file as the mount point, nosuid, nodev (but for a device node) and
// read-only when m says so, submounts included.
func bindMount(m Mount, src source) error {
	if src.mode&unix.S_IFMT == unix.S_IFDIR {
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(path.Dir(m.Target), 0o755); err != nil {
			return err
		}
		if err := createFile(m.Target, 0o644, ""); err != nil {
			return err
		}
	}
	if err := unix.Mount(src.path(), m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID}
	if t := src.mode & unix.S_IFMT; t != unix.S_IFCHR && t != unix.S_IFBLK {
		attr.Attr_set |= unix.MOUNT_ATTR_NODEV
	}
	if m.ReadOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	// mount_setattr applies to the whole recursive bind, unlike a
	// MS_REMOUNT which would leave submounts writable.
	if err := unix.MountSetattr(unix.AT_FDCWD, m.Target, unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("set mount attributes: %w", err)
	}
	return nil
}

// lockInputs implements Mount.LockInputs for the mount at root: it walks
// the tree before the command exists, so nothing can change it meanwhile.
func lockInputs(root string) error {
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return err
	}
	return lockDir(root, st.Dev)
}

// lockDir binds the regular files of dir read-only on themselves, and its
// sticky subdirectories on themselves before descending into them.
func lockDir(dir string, dev uint64) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := dir + "/" + e.Name()
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Dev != dev {
			continue // another mount, read-only already
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if err := unix.Mount(p, p, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind %s on itself: %w", p, err)
			}
			attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
			if err := unix.MountSetattr(unix.AT_FDCWD, p, 0, &attr); err != nil {
				return fmt.Errorf("make %s read-only: %w", p, err)
			}
		case unix.S_IFDIR:
			if st.Mode&unix.S_ISVTX == 0 {
				continue
			}
			// A mount point can be neither removed nor renamed; the bind
			// stays writable so that the action can add entries. It is
			// recursive so that it keeps the read-only binds made below.
			if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("bind %s on itself: %w", p, err)
			}
			if err := lockDir(p, dev); err != nil {
				return err
			}
		}
	}
	return nil
}
