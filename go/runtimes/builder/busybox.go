package builder

import (
	"path"

	"github.com/actiond/actiond/go/deb"
)

// busyboxApplets are the commands a shell runtime offers when it includes
// Debian's busybox-static: what genrules, test wrappers and build scripts
// commonly call besides bash builtins (no network or system administration
// tools: actions have no use for them; no ar, xz or lzma, which this busybox
// builds without their creating side, so a missing command says it clearly). busybox picks the applet from
// argv[0], so each is a hard link to the one binary.
var busyboxApplets = []string{
	"awk", "base64", "basename", "bc", "bunzip2", "bzcat", "bzip2",
	"cat", "chgrp", "chmod", "chown", "cmp", "cp", "cpio", "cut", "date",
	"dd", "diff", "dirname", "dos2unix", "du", "echo", "egrep", "env",
	"expand", "expr", "false", "fgrep", "find", "fold", "getopt", "grep",
	"groups", "gunzip", "gzip", "head", "hexdump", "hostname", "id", "kill",
	"link", "ln", "logname", "ls", "lzcat", "md5sum", "mkdir",
	"mkfifo", "mktemp", "mv", "nl", "nproc", "od", "paste", "patch", "pidof",
	"printf", "ps", "pwd", "readlink", "realpath", "rev", "rm", "rmdir",
	"sed", "seq", "sh", "sha1sum", "sha256sum", "sha3sum", "sha512sum",
	"shuf", "sleep", "sort", "stat", "strings", "sync", "tac",
	"tail", "tar", "tee", "test", "time", "timeout", "touch", "tr", "true",
	"truncate", "uname", "uncompress", "unexpand", "uniq", "unix2dos",
	"unlink", "unlzma", "unxz", "unzip", "usleep", "uudecode", "uuencode",
	"wc", "which", "whoami", "xargs", "xxd", "xzcat", "yes", "zcat",
}

// BusyboxApplets returns the names linkBusybox links to busybox.
func BusyboxApplets() []string { return append([]string(nil), busyboxApplets...) }

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
