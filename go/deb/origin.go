package deb

import (
	"path/filepath"
	"regexp"
	"strings"
)

// Origin says where an index was published. Every field may be empty when
// the index was read from a file whose name does not say (OriginFromPath).
type Origin struct {
	// Path is the file the index was read from, if any.
	Path string
	// Archive is the archive root URL that Filename fields are relative
	// to, such as http://deb.debian.org/debian.
	Archive   string
	Suite     string
	Component string
	Arch      string
}

// aptListName matches the name apt gives a downloaded index in
// /var/lib/apt/lists: the URI with "/" turned into "_", then
// dists_SUITE_COMPONENT_binary-ARCH_Packages and a compression suffix.
var aptListName = regexp.MustCompile(`^(.+)_dists_([^_]+)_([^_]+)_binary-([^_]+)_Packages(\.[a-z0-9]+)?$`)

// OriginFromPath derives an index's origin from apt's list file name, such
// as deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4
// (archive http://deb.debian.org/debian-security, suite bookworm-security,
// component main, arch amd64). Other names give an Origin with only Path.
// apt escapes "_" inside the URI as "%5f", which this undoes; it does not
// record the scheme, so the archive is assumed to be served over http, as
// Debian mirrors are.
func OriginFromPath(path string) Origin {
	o := Origin{Path: path}
	m := aptListName.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return o
	}
	uri := strings.ReplaceAll(m[1], "_", "/")
	uri = strings.ReplaceAll(strings.ReplaceAll(uri, "%5f", "_"), "%5F", "_")
	o.Archive = "http://" + uri
	o.Suite, o.Component, o.Arch = m[2], m[3], m[4]
	return o
}
