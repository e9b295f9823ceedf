package execroot

import "github.com/actiond/actiond/go/digest"

// storedBlob is a blob for BlobStore.Put: data hashes to d.
type storedBlob struct {
	d    digest.Digest
	data []byte
}
