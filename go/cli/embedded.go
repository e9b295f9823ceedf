package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/actiond/actiond/go/payload"
	"github.com/actiond/actiond/go/progress"
)

// Embedded gives a command the files it takes by flag, falling back to the
// payloads embedded in its own executable (a standalone binary, see
// go/payload) when a flag is left empty. Payloads are extracted to
// Root/embedded once and verified by hash on every later use.
type Embedded struct {
	// Root is the daemon's state directory.
	Root   string
	Logger *slog.Logger
	// Progress, when not nil, is a terminal that extractions report their
	// progress on (see go/progress).
	Progress io.Writer

	set *payload.Set
	err error
}

// File returns value when it is not empty. Otherwise it extracts the
// payload name and returns the extracted file's path; without such a
// payload it returns "" when optional, else an error naming flag.
func (e *Embedded) File(ctx context.Context, name, flag, value string, optional bool) (string, error) {
	if value != "" {
		return value, nil
	}
	set, err := e.open()
	if err != nil {
		return "", err
	}
	p := set.Lookup(name)
	if p == nil {
		if optional {
			return "", nil
		}
		_, err := set.Require(name, flag)
		return "", err
	}
	start := time.Now()
	// Extract reports progress only when it writes the file, so a payload
	// already in place prints nothing.
	pr := progress.New(e.Progress, progress.Options{Label: "extracting the embedded " + name, Bytes: p.Size()})
	res, err := p.Extract(ctx, e.Root, pr.BytesFunc())
	pr.Finish(err)
	if err != nil {
		return "", fmt.Errorf("extracting the embedded %s (or pass %s): %w", name, flag, err)
	}
	e.Logger.Info("embedded payload", slog.String("name", name), slog.String("path", res.Path),
		slog.Int64("bytes", p.Size()), slog.Bool("extracted", res.Extracted), slog.Bool("replaced", res.Replaced),
		slog.Duration("took", time.Since(start)))
	return res.Path, nil
}

// Close releases the executable.
func (e *Embedded) Close() error {
	if e.set == nil {
		return nil
	}
	return e.set.Close()
}

func (e *Embedded) open() (*payload.Set, error) {
	if e.set == nil && e.err == nil {
		e.set, e.err = payload.OpenSelf()
		if e.err != nil {
			e.err = fmt.Errorf("reading the payloads embedded in this executable: %w", e.err)
		}
	}
	return e.set, e.err
}

// UseEmbeddedBootFiles sets each of the serve-vm boot files left empty
// (kernel, initramfs, runtime image) to the payload the running executable
// carries, extracted under root, if it carries one; the others stay empty,
// for the command's own checks to say what to pass. Without a root it does
// nothing (the command then says --root is required).
func UseEmbeddedBootFiles(ctx context.Context, root string, logger *slog.Logger, progress io.Writer, kernel, initramfs, runtimeImage *string) error {
	if root == "" {
		return nil
	}
	e := &Embedded{Root: root, Logger: logger, Progress: progress}
	defer e.Close()
	for _, f := range []struct {
		name, flag string
		value      *string
	}{
		{payload.Kernel, "--kernel", kernel},
		{payload.Initramfs, "--initramfs", initramfs},
		{payload.Runtimes, "--runtime-image", runtimeImage},
	} {
		path, err := e.File(ctx, f.name, f.flag, *f.value, true)
		if err != nil {
			return err
		}
		*f.value = path
	}
	return nil
}
