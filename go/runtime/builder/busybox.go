package builder

import (
	"path"

	"github.com/actiond/actiond/go/deb"
)

// busyboxApplets are the commands a shell runtime offers when it includes
// Debian's busybox-static: what genrules and small scripts commonly call
// besides bash builtins. busybox picks the applet from argv[0], so each is a
// hard link to the one binary.
var busyboxApplets = []string{
	"awk", "basename", "cat", "chmod", "cmp", "cp", "cut", "date", "diff",
	"dirname", "du", "env", "expr", "false", "find", "grep", "gunzip",
	"gzip", "head", "id", "ln", "ls", "md5sum", "mkdir", "mktemp", "mv",
	"od", "paste", "printf", "readlink", "realpath", "rm", "rmdir", "sed",
	"seq", "sh", "sha1sum", "sha256sum", "sleep", "sort", "split", "stat",
	"tail", "tar", "tee", "test", "touch", "tr", "true", "uname", "uniq",
	"wc", "xargs", "zcat",
}

// linkBusybox links the applets into bin and usr/bin when the tree has
// bin/busybox, leaving alone any name a package already provides.
func linkBusybox(tree *deb.Tree) error {
	var busybox string
	for _, candidate := range []string{"bin/busybox", "usr/bin/busybox"} {
		if resolved, isDir, ok := tree.Lookup(candidate); ok && !isDir {
			busybox = resolved
			break
		}
	}
	if busybox == "" {
		return nil
	}
	for _, dir := range []string{"bin", "usr/bin"} {
		if resolved, isDir, ok := tree.Lookup(dir); ok && isDir {
			dir = resolved
		} else if !ok {
			continue
		}
		for _, applet := range busyboxApplets {
			name := path.Join(dir, applet)
			if _, _, ok := tree.Lookup(name); ok {
				continue
			}
			if err := tree.Link(busybox, name); err != nil {
				return err
			}
		}
	}
	return nil
}
