package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/cas"
	"github.com/actiond/actiond/go/digest"
)

func TestGC(t *testing.T) {
	fill := func(t *testing.T) (string, []digest.Digest) {
		root := t.TempDir()
		s, err := cas.Open(context.Background(), cas.Options{Root: root, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		var ds []digest.Digest
		for i := range 10 {
			data := bytes.Repeat([]byte{byte('a' + i)}, 1000)
			d := digest.OfBytes(data)
			if err := s.Put(context.Background(), d, data); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return root, ds
	}
	t.Run("trims to the limit", func(t *testing.T) {
		root, ds := fill(t)
		var stdout, stderr bytes.Buffer
		if code := run([]string{"gc", "--root", root, "--max-cas-bytes", "3500"}, &stdout, &stderr); code != 0 {
			t.Fatalf("gc = %d, stderr %q", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "evicted 7 blobs") {
			t.Errorf("gc printed %q, want 7 of the 10 1000-byte blobs evicted to fit 3500 bytes", stdout.String())
		}
		s, err := cas.Open(context.Background(), cas.Options{Root: root, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if missing := s.FindMissing(context.Background(), ds); len(missing) != 7 {
			t.Errorf("after gc %d of the 10 blobs are missing, want 7", len(missing))
		}
	})
	for _, tc := range []struct {
		name     string
		args     func(root string) []string
		locked   bool
		wantCode int
		wantErr  string
	}{
		{"daemon running", func(root string) []string { return []string{"--root", root, "--max-cas-bytes", "1"} }, true, 1, "in use by another process"},
		{"no CAS there", func(root string) []string { return []string{"--root", root + "/nothing", "--max-cas-bytes", "1"} }, false, 1, "no CAS under"},
		{"no limit", func(root string) []string { return []string{"--root", root} }, false, 2, "--max-cas-bytes (a positive size)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := fill(t)
			if tc.locked {
				s, err := cas.Open(context.Background(), cas.Options{Root: root})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
			}
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"gc"}, tc.args(root)...), &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("gc = %d, stderr %q; want %d and %q", code, stderr.String(), tc.wantCode, tc.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("gc printed %q on failure", stdout.String())
			}
		})
	}
}
