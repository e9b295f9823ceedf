package deb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestFetch(t *testing.T) {
	files := map[string][]byte{
		"/debian/pool/good_1_amd64.deb":   []byte("good package"),
		"/debian/pool/bad_1_amd64.deb":    []byte("tampered package"),
		"/debian/pool/long_1_amd64.deb":   []byte("longer than pinned"),
		"/other/pool/elsewhere_1_all.deb": []byte("from the lock's own archive"),
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	pkg := func(name, arch, archive string, content []byte) LockedPackage {
		return LockedPackage{Name: name, Version: "1", Arch: arch, Archive: archive,
			Filename: fmt.Sprintf("pool/%s_1_%s.deb", name, arch), Size: int64(len(content)), SHA256: sha(content)}
	}
	good := pkg("good", "amd64", "", files["/debian/pool/good_1_amd64.deb"])
	elsewhere := pkg("elsewhere", "all", srv.URL+"/other/", files["/other/pool/elsewhere_1_all.deb"])
	bad := pkg("bad", "amd64", "", []byte("original package"))
	long := pkg("long", "amd64", "", []byte("longer than"))
	missing := pkg("missing", "amd64", "", []byte("x"))
	lock := func(ps ...LockedPackage) *Lock {
		return &Lock{Version: LockVersion, Arch: "amd64", Packages: ps}
	}
	ctx := context.Background()
	opts := FetchOptions{Archive: srv.URL + "/debian"}

	t.Run("good", func(t *testing.T) {
		dir := t.TempDir()
		paths, err := Fetch(ctx, lock(elsewhere, good), dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range [][]byte{files["/other/pool/elsewhere_1_all.deb"], files["/debian/pool/good_1_amd64.deb"]} {
			got, err := os.ReadFile(paths[i])
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %q, %v; want %q", paths[i], got, err, want)
			}
		}
		// A second fetch keeps the files: an archive that cannot answer
		// would fail it otherwise.
		if _, err := Fetch(ctx, lock(elsewhere, good), dir, FetchOptions{Archive: "http://127.0.0.1:1/unused"}); err != nil {
			t.Fatalf("second fetch downloaded again: %v", err)
		}
	})
	t.Run("sha256 mismatch", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Fetch(ctx, lock(good, bad), dir, opts)
		if !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("got %v, want ErrHashMismatch", err)
		}
		for _, want := range []string{"package bad 1 (amd64)", "sha256 " + sha(files["/debian/pool/bad_1_amd64.deb"]), "want " + bad.SHA256} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		assertOnlyFiles(t, dir, "good_1_amd64.deb")
	})
	t.Run("too long", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Fetch(ctx, lock(long), dir, opts)
		if !errors.Is(err, ErrHashMismatch) || !strings.Contains(err.Error(), fmt.Sprintf("size %d, want %d", long.Size+1, long.Size)) {
			t.Fatalf("got %v", err)
		}
		assertOnlyFiles(t, dir)
	})
	t.Run("wrong file under the final name is replaced", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "good_1_amd64.deb"), []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Fetch(ctx, lock(good), dir, opts); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "good_1_amd64.deb")); !bytes.Equal(got, files["/debian/pool/good_1_amd64.deb"]) {
			t.Errorf("got %q", got)
		}
	})
	t.Run("not found and no archive", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Fetch(ctx, lock(missing), dir, opts)
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("missing: got %v", err)
		}
		_, err = Fetch(ctx, lock(good), dir, FetchOptions{})
		if err == nil || !strings.Contains(err.Error(), "names no archive") {
			t.Errorf("no archive: got %v", err)
		}
		assertOnlyFiles(t, dir)
	})
	t.Run("invalid lock", func(t *testing.T) {
		evil := good
		evil.Filename = "../../etc/good_1_amd64.deb"
		if _, err := Fetch(ctx, lock(evil), t.TempDir(), opts); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("got %v, want ErrUnsafePath", err)
		}
	})
}

func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}
