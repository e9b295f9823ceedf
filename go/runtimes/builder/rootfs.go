package builder

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/actiond/actiond/go/deb"
	"github.com/actiond/actiond/go/runtimes"
)

// rootfsReserved are the top-level names a rootfs does not mount: the
// sandbox makes /dev, /proc and /tmp itself, /etc is the image's common etc
// for every kind (the tree prunes packages' etc), and /sys is never
// mounted. go/runtimes refuses a manifest that mounts on them.
var rootfsReserved = map[string]bool{"dev": true, "proc": true, "sys": true, "tmp": true, "etc": true}

// alternative is a name that Debian's maintainer scripts make with
// update-alternatives (or, for sh, that dash's package ships), which a
// tree extracted without running them lacks.
type alternative struct {
	link       string   // root-relative path of the link
	candidates []string // targets in order of preference, in the link's directory
}

// rootfsAlternatives are the links a toolchain rootfs gets when no package
// provides them: cc and c++ (gcc's and g++'s postinst run
// update-alternatives for them; build systems and Bazel's autodetection
// with CC=cc call them), c89/c99 likewise, and sh when dash, which ships
// it, is not in the closure (Essential packages are left out by default).
// Each links to the first candidate present, relative, in the same
// directory, as update-alternatives' chain would end.
var rootfsAlternatives = []alternative{
	{"usr/bin/cc", []string{"gcc", "clang"}},
	{"usr/bin/c++", []string{"g++", "clang++"}},
	{"usr/bin/c89", []string{"c89-gcc"}},
	{"usr/bin/c99", []string{"c99-gcc"}},
	{"bin/sh", []string{"dash", "bash"}},
}

// addAlternatives adds the rootfsAlternatives the tree lacks and can
// satisfy, as symbolic links. It runs after MergeUsr, so a link goes into
// the directory its parent resolves to (bin/sh into usr/bin when bin is
// the merged-/usr link).
func addAlternatives(tree *deb.Tree) error {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, alt := range rootfsAlternatives {
		if _, _, ok := tree.Lookup(alt.link); ok {
			continue
		}
		dir, isDir, ok := tree.Lookup(path.Dir(alt.link))
		if !ok || !isDir {
			continue
		}
		for _, c := range alt.candidates {
			if _, isDir, ok := tree.Lookup(path.Join(dir, c)); ok && !isDir {
				err := tw.WriteHeader(&tar.Header{
					Name: path.Join(dir, path.Base(alt.link)), Typeflag: tar.TypeSymlink, Linkname: c,
					Mode: 0o777, ModTime: time.Unix(0, 0),
				})
				if err != nil {
					return err
				}
				break
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return tree.AddTar("the runtime builder's alternatives", &b)
}

// rootfsMounts returns a mount for every top-level directory of the
// finished tree at root, but the reserved ones: the sandbox's / stays its
// own tmpfs, with /dev, /proc and /tmp, and each of the rootfs's top-level
// directories is bound read-only onto it. A top-level symlink to a
// directory (bin -> usr/bin) mounts the directory it resolves to, since a
// bind of the link would resolve it on the host. Top-level regular files
// are left out: nothing a package ships lives there.
func rootfsMounts(tree *deb.Tree, root string) ([]runtimes.ManifestMount, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	mounts := []runtimes.ManifestMount{}
	for _, e := range entries {
		name := e.Name()
		if rootfsReserved[name] {
			continue
		}
		resolved, isDir, ok := tree.Lookup(name)
		if !ok || !isDir {
			continue
		}
		if info, err := os.Lstat(filepath.Join(root, resolved)); err != nil || !info.IsDir() {
			return nil, fmt.Errorf("rootfs top-level %q resolves to %q, which is not a directory on disk", name, resolved)
		}
		mounts = append(mounts, runtimes.ManifestMount{ImagePath: path.Join("root", resolved), SandboxPath: "/" + name})
	}
	return mounts, nil
}
