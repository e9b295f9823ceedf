//go:build linux

package cas_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/internal/diskfill"
)

func wantDiskFull(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "the disk is full") {
		t.Fatalf("%s: %v, want RESOURCE_EXHAUSTED saying the disk is full", what, err)
	}
}

// TestDiskFull runs a store on a small ext4 filesystem that something else
// fills up (the store's own limit is far above the disk): a write first
// evicts unused blobs to make room; with nothing left to evict it fails
// with RESOURCE_EXHAUSTED, leaving no temp file and no partial blob; once
// space returns, writes succeed again.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	mnt := cas.MountExt4Image(t, 32<<20, "", "")
	root := filepath.Join(mnt, "root")
	s := open(t, root, 1<<30)
	var old []digest.Digest
	for i := range 4 {
		data, _ := blob(string(rune('a'+i))+" old blob ", 2<<20)
		old = append(old, mustPut(t, s, data))
	}
	filler := filepath.Join(mnt, "filler")
	diskfill.Fill(t, filler)

	// Unused blobs make room.
	newData, newD := blob("new blob ", 1<<20)
	if err := s.Put(ctx, newD, newData); err != nil {
		t.Fatalf("Put on a full disk with unused blobs to evict: %v", err)
	}
	if st := s.Stats(); st.Evictions == 0 {
		t.Errorf("Stats().Evictions = 0 after a write on a full disk succeeded")
	}
	if got, err := s.ReadAll(ctx, newD, newD.Size); err != nil || !bytes.Equal(got, newData) {
		t.Fatalf("ReadAll(new blob) = %d bytes, %v", len(got), err)
	}

	// Nothing left to evict: everything still stored is in use.
	for _, d := range append(old, newD) {
		if unpin, err := s.Pin(ctx, d); err == nil {
			t.Cleanup(unpin)
		}
	}
	diskfill.Fill(t, filler)
	cases := []struct {
		name  string
		write func(data []byte, d digest.Digest) error
	}{
		{"Put", func(data []byte, d digest.Digest) error { return s.Put(ctx, d, data) }},
		{"Writer", func(data []byte, d digest.Digest) error {
			w, err := s.NewWriter(ctx, d)
			if err != nil {
				return err
			}
			defer w.Close()
			for off := 0; off < len(data); off += 16 << 10 {
				if _, err := w.Write(data[off:min(off+16<<10, len(data))]); err != nil {
					return err
				}
			}
			return w.Commit()
		}},
		{"CopyFile", func(data []byte, d digest.Digest) error {
			// An action output on another filesystem is copied in.
			src := filepath.Join(t.TempDir(), "out")
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := s.CopyFile(ctx, src)
			if err == nil && got != d {
				t.Errorf("CopyFile stored %s, want %s", got, d)
			}
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, d := blob(tc.name+" on a full disk ", 1<<20)
			wantDiskFull(t, tc.name, tc.write(data, d))
			if s.Contains(ctx, d) {
				t.Errorf("Contains(%s) = true after its write failed", d)
			}
			if _, err := os.Stat(s.Path(d)); !os.IsNotExist(err) {
				t.Errorf("a file for the failed blob exists: %v", err)
			}
			if left := tmpEntries(t, root); len(left) != 0 {
				t.Errorf("temp files left behind: %v", left)
			}
		})
	}

	// Space returns.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		data, d := blob(tc.name+" after space returned ", 1<<20)
		if err := tc.write(data, d); err != nil {
			t.Errorf("%s after the filler was removed: %v", tc.name, err)
		}
		if got, err := s.ReadAll(ctx, d, d.Size); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: ReadAll = %d bytes, %v", tc.name, len(got), err)
		}
	}
}
