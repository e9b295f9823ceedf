package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/payload"
)

// The test binary carries no payloads: flags win, optional payloads are
// left empty and required ones name their flag.
func TestEmbeddedFileWithoutPayloads(t *testing.T) {
	e := &Embedded{Root: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	defer e.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name, value string
		optional    bool
		want        string
		wantErr     string
	}{
		{name: "flag given", value: "/some/kernel", want: "/some/kernel"},
		{name: "optional", optional: true, want: ""},
		{name: "required", wantErr: "pass --kernel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.File(ctx, payload.Kernel, "--kernel", tc.value, tc.optional)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, payload.ErrNotEmbedded) {
					t.Fatalf("err = %v, want ErrNotEmbedded saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("File = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestWriteEmbeddedListsPayloads(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "kernel")
	if err := os.WriteFile(kernel, bytes.Repeat([]byte("k"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := []byte("not really an executable")
	out, err := os.Create(filepath.Join(dir, "standalone"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := payload.WriteTrailer(out, bytes.NewReader(exe), int64(len(exe)), []payload.Source{{Name: payload.Kernel, Path: kernel}}, payload.Zstd); err != nil {
		t.Fatal(err)
	}
	set, err := payload.Open(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var b strings.Builder
	if err := writeEmbedded(&b, set); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.HasPrefix(got, "embedded: kernel 1000 bytes, ") || !strings.Contains(got, "sha256:") || strings.Count(got, "\n") != 1 {
		t.Errorf("listing = %q, want one line for the 1000-byte kernel with its stored size and hash", got)
	}

	b.Reset()
	empty, err := payload.Parse(bytes.NewReader(exe), int64(len(exe)), "plain")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeEmbedded(&b, empty); err != nil || !strings.Contains(b.String(), "embedded: nothing") {
		t.Errorf("listing of a plain binary = %q, %v", b.String(), err)
	}
}

// Extracting a payload prints its progress on the terminal it is given,
// and a payload already extracted prints nothing.
func TestEmbeddedFileProgress(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "kernel")
	if err := os.WriteFile(kernel, bytes.Repeat([]byte("k"), 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := []byte("not really an executable")
	out, err := os.Create(filepath.Join(dir, "standalone"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := payload.WriteTrailer(out, bytes.NewReader(exe), int64(len(exe)), []payload.Source{{Name: payload.Kernel, Path: kernel}}, payload.Zstd); err != nil {
		t.Fatal(err)
	}
	set, err := payload.Open(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	var term bytes.Buffer // a terminal, as far as Embedded knows
	e := &Embedded{Root: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Progress: &term, set: set}
	defer e.Close()
	for range 2 {
		if _, err := e.File(context.Background(), payload.Kernel, "--kernel", "", false); err != nil {
			t.Fatal(err)
		}
	}
	got := term.String()
	if !strings.HasPrefix(got, "\rextracting the embedded kernel: ") || !strings.HasSuffix(got, " (3.0 MiB)\n") ||
		!strings.Contains(got, ": done in ") || strings.Count(got, "\n") != 1 {
		t.Errorf("terminal got %q, want one extraction ending in a done line for 3.0 MiB", got)
	}
}
