package cli

import (
	"fmt"
	"io"

	"github.com/actiond/actiond/go/payload"
)

// WriteEmbedded lists the payloads embedded in the running executable, one
// line each with its size and hash, for the version command.
func WriteEmbedded(w io.Writer) error {
	set, err := payload.OpenSelf()
	if err != nil {
		return fmt.Errorf("reading the embedded payloads: %w", err)
	}
	defer set.Close()
	return writeEmbedded(w, set)
}

func writeEmbedded(w io.Writer, set *payload.Set) error {
	ps := set.Payloads()
	if len(ps) == 0 {
		_, err := fmt.Fprintln(w, "embedded: nothing (pass --runtime-image, --kernel and --initramfs)")
		return err
	}
	for _, p := range ps {
		stored := ""
		if p.StoredSize() != p.Size() {
			stored = fmt.Sprintf(", %d stored (%s)", p.StoredSize(), p.Compression())
		}
		if _, err := fmt.Fprintf(w, "embedded: %s %d bytes%s sha256:%s (%s)\n", p.Name(), p.Size(), stored, p.SHA256(), set.Format()); err != nil {
			return err
		}
	}
	return nil
}
