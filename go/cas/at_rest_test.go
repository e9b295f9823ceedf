package cas_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
)

// alteration changes the file at path behind the store's back.
type alteration struct {
	name string
	// alter changes the file; intact says whether its bytes still match.
	alter  func(t *testing.T, path string)
	intact bool
}

// overwrite writes data over the file at path, as any process able to
// write it would, keeping its mode.
func overwrite(t *testing.T, path string, data []byte, keepMtime bool) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	if keepMtime {
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
}

func alterations(data []byte) []alteration {
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 1
	return []alteration{
		{name: "one bit flipped in place", alter: func(t *testing.T, p string) { overwrite(t, p, flipped, false) }},
		{name: "truncated", alter: func(t *testing.T, p string) { overwrite(t, p, data[:len(data)/2], false) }},
		{name: "replaced by another file", alter: func(t *testing.T, p string) {
			tmp := p + ".new"
			if err := os.WriteFile(tmp, flipped, 0o444); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "replaced by an identical copy", intact: true, alter: func(t *testing.T, p string) {
			tmp := p + ".new"
			if err := os.WriteFile(tmp, data, 0o444); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "made world-writable", intact: true, alter: func(t *testing.T, p string) {
			if err := os.Chmod(p, 0o666); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "rewritten with the same bytes", intact: true, alter: func(t *testing.T, p string) { overwrite(t, p, data, false) }},
	}
}

// TestAlteredBlobIsNotServed alters a stored blob's file on disk while the
// store is open and uses the blob each way the store hands it out: an
// altered file is hashed again, and dropped (NOT_FOUND, absent from
// FindMissing's view) unless it still holds the blob's bytes.
func TestAlteredBlobIsNotServed(t *testing.T) {
	ctx := context.Background()
	data, d := blob("at rest ", 64<<10)
	uses := []struct {
		name string
		use  func(s *cas.Store) error
	}{
		{"Get", func(s *cas.Store) error {
			b, err := s.Get(ctx, d)
			if err == nil {
				defer b.Close()
				got, err := io.ReadAll(b)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("Get served %d bytes (%v), want the blob's", len(got), err)
				}
			}
			return err
		}},
		{"ReadAll", func(s *cas.Store) error {
			got, err := s.ReadAll(ctx, d, d.Size)
			if err == nil && !bytes.Equal(got, data) {
				t.Errorf("ReadAll returned altered bytes")
			}
			return err
		}},
		{"Pin", func(s *cas.Store) error {
			unpin, err := s.Pin(ctx, d)
			if err == nil {
				defer unpin()
				if got, _ := os.ReadFile(s.Path(d)); !bytes.Equal(got, data) {
					t.Errorf("Pin kept a file with altered bytes at Path")
				}
			}
			return err
		}},
		{"LinkExecutable", func(s *cas.Store) error {
			p, unpin, err := s.LinkExecutable(ctx, d)
			if err == nil {
				defer unpin()
				if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
					t.Errorf("LinkExecutable made a variant with altered bytes")
				}
			}
			return err
		}},
	}
	for _, a := range alterations(data) {
		for _, u := range uses {
			t.Run(a.name+"/"+u.name, func(t *testing.T) {
				s := open(t, t.TempDir(), 1<<20)
				mustPut(t, s, data)
				a.alter(t, s.Path(d))
				err := u.use(s)
				if a.intact {
					if err != nil {
						t.Fatalf("%s after the file was %s: %v, want success", u.name, a.name, err)
					}
					fi, err := os.Stat(s.Path(d))
					if err != nil || fi.Mode().Perm() != 0o444 {
						t.Errorf("blob file after the check: %v, %v; want mode 0444", fi, err)
					}
					return
				}
				wantCode(t, u.name, err, codes.NotFound)
				if s.Contains(ctx, d) {
					t.Errorf("Contains(%s) = true after the blob was found altered", d)
				}
				if _, err := os.Stat(s.Path(d)); !os.IsNotExist(err) {
					t.Errorf("the altered file is still there: %v", err)
				}
				// The client's upload stores it again.
				mustPut(t, s, data)
				if err := u.use(s); err != nil {
					t.Errorf("%s after uploading again: %v", u.name, err)
				}
			})
		}
	}
}

// TestAlteredWhileRead: a read that began before the file changed gets
// DATA_LOSS from Check, and the blob is dropped.
func TestAlteredWhileRead(t *testing.T) {
	ctx := context.Background()
	data, d := blob("while read ", 64<<10)
	s := open(t, t.TempDir(), 1<<20)
	mustPut(t, s, data)
	b, err := s.Get(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Check(); err != nil {
		t.Fatalf("Check before any change: %v", err)
	}
	flipped := bytes.Clone(data)
	flipped[0] ^= 1
	overwrite(t, s.Path(d), flipped, false)
	wantCode(t, "Check after the file changed", b.Check(), codes.DataLoss)
	if s.Contains(ctx, d) {
		t.Errorf("Contains = true after Check found the file changed")
	}
}

// TestAlteredVariantIsMadeAgain: an executable variant changed on disk is
// replaced by a fresh copy of the blob.
func TestAlteredVariantIsMadeAgain(t *testing.T) {
	data := []byte("#!/bin/sh\necho variant\n")
	d := digest.OfBytes(data)
	s := open(t, t.TempDir(), 1<<20)
	mustPut(t, s, data)
	unpin, p := mustLinkExecutable(t, s, d)
	unpin()
	overwrite(t, p, []byte("#!/bin/sh\necho pwned!\n"), false)
	_, p = mustLinkExecutable(t, s, d)
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Errorf("variant holds %q, want %q", got, data)
	}
	if st, want := s.Stats(), 2*d.Size; st.Bytes != want {
		t.Errorf("Stats().Bytes = %d, want %d (the blob and one variant)", st.Bytes, want)
	}
}

// TestAlteredWhileClosed: a file changed while no store had it open, even
// with its mtime put back, is found by its ctime at the next Open and
// dropped; an untouched one stays.
func TestAlteredWhileClosed(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dataA, a := blob("kept ", 32<<10)
	dataB, b := blob("altered ", 32<<10)
	s, err := cas.Open(ctx, cas.Options{Root: root, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, dataA)
	mustPut(t, s, dataB)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Date the clean Close an hour back, so that the change below has a
	// later ctime however coarse the filesystem's clock.
	hourAgo := time.Now().Add(-time.Hour)
	for _, marker := range []string{"variants-clean", "opened"} {
		if err := os.Chtimes(filepath.Join(root, "cas", marker), hourAgo, hourAgo); err != nil {
			t.Fatal(err)
		}
	}
	flipped := bytes.Clone(dataB)
	flipped[7] ^= 1
	overwrite(t, filepath.Join(root, "cas", "sha256", b.Hash[:2], b.Hash), flipped, true)

	s2 := open(t, root, 1<<20)
	if !s2.Contains(ctx, a) {
		t.Errorf("the untouched blob is gone")
	}
	if s2.Contains(ctx, b) {
		t.Errorf("the blob altered while the store was closed is still served")
	}
	if got, err := s2.ReadAll(ctx, a, a.Size); err != nil || !bytes.Equal(got, dataA) {
		t.Errorf("ReadAll(untouched) = %d bytes, %v", len(got), err)
	}
}

// TestStoreDirectoriesArePrivate: the store's directories are created
// without group or world write permission, and such permission on existing
// ones is removed at Open.
func TestStoreDirectoriesArePrivate(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "cas")
	if err := os.Mkdir(base, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o777); err != nil {
		t.Fatal(err)
	}
	open(t, root, 1<<20)
	for _, dir := range []string{"", "sha256", "sha256x", "tmp", "recent"} {
		fi, err := os.Stat(filepath.Join(base, dir))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			t.Errorf("cas/%s has mode %#o, want no group or world write", dir, fi.Mode().Perm())
		}
	}
}
