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
	"sync"
	"testing"
	"time"
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
		opts := opts
		p := &countingProgress{}
		opts.Progress = p
		paths, err := Fetch(ctx, lock(elsewhere, good), dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if p.bytes != elsewhere.Size+good.Size || p.items != 2 {
			t.Errorf("progress counted %d bytes and %d packages, want %d and 2", p.bytes, p.items, elsewhere.Size+good.Size)
		}
		for i, want := range [][]byte{files["/other/pool/elsewhere_1_all.deb"], files["/debian/pool/good_1_amd64.deb"]} {
			got, err := os.ReadFile(paths[i])
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %q, %v; want %q", paths[i], got, err, want)
			}
		}
		// A second fetch keeps the files: an archive that cannot answer
		// would fail it otherwise.
		p = &countingProgress{}
		if _, err := Fetch(ctx, lock(elsewhere, good), dir, FetchOptions{Archive: "http://127.0.0.1:1/unused", Progress: p}); err != nil {
			t.Fatalf("second fetch downloaded again: %v", err)
		}
		// Files kept count as fetched.
		if p.bytes != elsewhere.Size+good.Size || p.items != 2 {
			t.Errorf("second fetch: progress counted %d bytes and %d packages, want %d and 2", p.bytes, p.items, elsewhere.Size+good.Size)
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

// countingProgress is a FetchProgress that adds up what it hears.
type countingProgress struct {
	mu           sync.Mutex
	bytes, items int64
}

func (p *countingProgress) AddBytes(n int64) { p.mu.Lock(); p.bytes += n; p.mu.Unlock() }
func (p *countingProgress) AddItems(n int64) { p.mu.Lock(); p.items += n; p.mu.Unlock() }

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

// TestFetchDebianMirror locks the smallest package of the toolchain closure
// from apt's lists and downloads it from the Debian archive the lists name,
// the only network this test touches. It skips when the lists are absent or
// the archive does not answer.
func TestFetchDebianMirror(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads from the Debian archive")
	}
	var indexes []*Index
	for _, p := range aptLists(t, "/var/lib/apt/lists", "amd64") {
		idx, err := ReadIndexFile(p)
		if err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, idx)
	}
	opts := ResolveOptions{Arch: "amd64"}
	res, err := Resolve(indexes, toolchainRoots, opts)
	if err != nil {
		t.Skipf("these indexes are not Debian 12's: %v", err)
	}
	smallest := res.Packages[0]
	for _, e := range res.Packages {
		if e.Size < smallest.Size {
			smallest = e
		}
	}
	res.Packages = []*IndexEntry{smallest}
	lock, err := NewLock(res, []string{smallest.Name}, opts)
	if err != nil {
		t.Fatal(err)
	}
	archive := lock.Packages[0].Archive
	probe := &http.Client{Timeout: 10 * time.Second}
	resp, err := probe.Head(strings.TrimSuffix(archive, "/") + "/" + lock.Packages[0].Filename)
	if err != nil {
		t.Skipf("the Debian archive %s is unreachable: %v", archive, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Skipf("the Debian archive %s answers %s for %s (the lists may be older than the archive: apt-get update)", archive, resp.Status, lock.Packages[0].Filename)
	}
	dir := t.TempDir()
	paths, err := Fetch(context.Background(), lock, dir, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum, size, err := hashFile(paths[0])
	if err != nil || sum != smallest.SHA256 || size != smallest.Size {
		t.Errorf("%s: sha256 %s, size %d, %v; want %s, %d", paths[0], sum, size, err, smallest.SHA256, smallest.Size)
	}
	t.Logf("fetched %s (%d bytes) from %s", smallest, size, archive)

	// The same lock with a wrong hash fails and leaves nothing behind.
	lock.Packages[0].SHA256 = strings.Repeat("0", 64)
	dir2 := t.TempDir()
	if _, err := Fetch(context.Background(), lock, dir2, FetchOptions{}); !errors.Is(err, ErrHashMismatch) || !strings.Contains(err.Error(), "sha256 "+smallest.SHA256) {
		t.Errorf("wrong hash: got %v", err)
	}
	assertOnlyFiles(t, dir2)
}
