// Package filehash hashes files by name. It is a leaf with no gRPC or
// REAPI dependency, for code that records or compares a file's SHA-256
// (runtime images, .deb files) rather than addressing blobs in the CAS.
package filehash

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
)

// SHA256 returns the SHA-256 of the contents of the file name in lowercase
// hex.
func SHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
