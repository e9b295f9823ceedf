package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeIndex writes a Packages index of packages a -> b -> c (b also
// depends on a: a cycle), with the given .deb contents for their hashes.
func writeIndex(t *testing.T, dir, name string, debs map[string][]byte) string {
	t.Helper()
	deps := map[string]string{"a": "b (>= 1)", "b": "c | d, a", "c": ""}
	var text strings.Builder
	for _, pkg := range []string{"a", "b", "c"} {
		sum := sha256.Sum256(debs[pkg])
		fmt.Fprintf(&text, "Package: %s\nVersion: 1.0-1\nArchitecture: amd64\n", pkg)
		if deps[pkg] != "" {
			fmt.Fprintf(&text, "Depends: %s\n", deps[pkg])
		}
		fmt.Fprintf(&text, "Filename: pool/main/%s/%s_1.0-1_amd64.deb\nSize: %d\nSHA256: %s\n\n", pkg, pkg, len(debs[pkg]), hex.EncodeToString(sum[:]))
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var debs = map[string][]byte{"a": []byte("deb a"), "b": []byte("deb b"), "c": []byte("deb c")}

func TestLockAndFetch(t *testing.T) {
	dir := t.TempDir()
	index := writeIndex(t, dir, "Packages", debs)
	lock := filepath.Join(dir, "lock.json")
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"--arch", "amd64", "--index", index, "--out", lock, "a"}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := "3 packages, 15 bytes"; !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout %q lacks %q", stdout.String(), want)
	}
	first, err := os.ReadFile(lock)
	if err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"--arch", "amd64", "--index", index, "--out", lock, "a"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(lock); !bytes.Equal(first, second) {
		t.Errorf("two runs wrote different locks:\n%s\n%s", first, second)
	}

	served := map[string][]byte{}
	for name, b := range debs {
		served[fmt.Sprintf("/debian/pool/main/%s/%s_1.0-1_amd64.deb", name, name)] = b
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := served[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	out := filepath.Join(dir, "debs")
	if err := run(context.Background(), []string{"fetch", "--lock", lock, "--archive", srv.URL + "/debian", "--out", out}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for name, want := range debs {
		if got, err := os.ReadFile(filepath.Join(out, name+"_1.0-1_amd64.deb")); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}

	// The archive now serves another b: the fetch fails naming it and both
	// hashes, and leaves nothing under its name.
	served["/debian/pool/main/b/b_1.0-1_amd64.deb"] = []byte("deb B")
	out2 := filepath.Join(dir, "debs2")
	err = run(context.Background(), []string{"fetch", "--lock", lock, "--archive", srv.URL + "/debian", "--out", out2}, io.Discard, io.Discard)
	wantSum := sha256.Sum256(debs["b"])
	gotSum := sha256.Sum256([]byte("deb B"))
	for _, want := range []string{"package b 1.0-1 (amd64)", "sha256 " + hex.EncodeToString(gotSum[:]), "want " + hex.EncodeToString(wantSum[:])} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("fetch with a changed b: got %v, want an error containing %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(out2, "b_1.0-1_amd64.deb")); err == nil {
		t.Error("a mismatching download was left under its final name")
	}
}

func TestLockDefaultIndexes(t *testing.T) {
	lists := t.TempDir()
	writeIndex(t, lists, "deb.example.org_debian_dists_bookworm_main_binary-amd64_Packages", debs)
	lock := filepath.Join(t.TempDir(), "lock.json")
	if err := runLock([]string{"--arch", "amd64", "--out", lock, "c"}, io.Discard, io.Discard, lists); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(lock)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"archive": "http://deb.example.org/debian"`, `"suites": [
    "bookworm"
  ]`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("lock lacks %q:\n%s", want, got)
		}
	}
	err = runLock([]string{"--arch", "arm64", "--out", lock, "c"}, io.Discard, io.Discard, lists)
	if err == nil || !strings.Contains(err.Error(), "no arm64 indexes in "+lists) {
		t.Errorf("no arm64 lists: got %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	index := writeIndex(t, dir, "Packages", debs)
	lock := filepath.Join(dir, "lock.json")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no arch", []string{"--index", index, "--out", lock, "a"}, "--arch is required"},
		{"no out", []string{"--arch", "amd64", "--index", index, "a"}, "--out is required"},
		{"no packages", []string{"--arch", "amd64", "--index", index, "--out", lock}, "no packages given"},
		{"missing index", []string{"--arch", "amd64", "--index", index + ".gone", "--out", lock, "a"}, "no such file"},
		{"unsatisfiable", []string{"--arch", "amd64", "--index", index, "--out", lock, "a=2"}, "a (= 2): no candidate in the index (a 1.0-1 does not satisfy = 2)"},
		{"unknown flag", []string{"--arhc", "amd64"}, "flag provided but not defined"},
		{"fetch without lock", []string{"fetch", "--out", dir}, "--lock is required"},
		{"fetch without out", []string{"fetch", "--lock", lock}, "--out is required"},
		{"fetch extra args", []string{"fetch", "--lock", lock, "--out", dir, "x"}, "unexpected arguments"},
		{"fetch bad lock", []string{"fetch", "--lock", index, "--out", dir}, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if _, err := os.Stat(lock); err == nil {
				t.Errorf("a failed run left %s", lock)
			}
		})
	}
}
