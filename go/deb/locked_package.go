package deb

// LockedPackage is one .deb of a Lock.
type LockedPackage struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Arch     string `json:"arch"`
	Suite    string `json:"suite,omitempty"`
	Archive  string `json:"archive,omitempty"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}
