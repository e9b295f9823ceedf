package main

// Tests of a command's package main cannot live in an external _test package;
// they call the unexported functions directly.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(content, "->") {
			if err := os.Symlink(strings.TrimPrefix(content, "->"), p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"minimal", []string{"--scan", "x", "--out-file", "o"}, ""},
		{"equals form", []string{"--scan=x", "--out-file=o", "--expect-loopback"}, ""},
		{"unknown flag", []string{"--out-file", "o", "--bogus", "1"}, "unknown flag --bogus"},
		{"positional", []string{"o"}, "unexpected argument"},
		{"missing value", []string{"--out-file"}, "needs a value"},
		{"no output", []string{"--scan", "x"}, "no output requested"},
		{"check with value", []string{"--out-file", "o", "--expect-loopback=1"}, "takes no value"},
		{"unpaired symlink", []string{"--out-symlink", "l"}, "pair up"},
		{"count without dir", []string{"--out-file", "o", "--out-count", "3"}, "needs --out-dir"},
		{"bad count", []string{"--out-dir", "d", "--out-count", "-1"}, "non-negative"},
		{"burn and sleep", []string{"--out-file", "o", "--burn-mib", "2", "--sleep-ms=5"}, ""},
		{"bad burn", []string{"--out-file", "o", "--burn-mib", "x"}, "non-negative"},
		{"bad name", []string{"--out-dir", "d", "--out-name", "x.txt"}, "integer verb"},
		{"name leaving the dir", []string{"--out-dir", "d", "--out-name", "../%d"}, "integer verb"},
		{"name in a subdir", []string{"--out-dir", "d", "--out-name", "sub/%d"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestScanIgnoresMaterialisation checks that a tree of symlinks hashes like a
// tree of copies: local, linux-sandbox and remote builds materialise inputs
// differently but must produce identical outputs.
func TestScanIgnoresMaterialisation(t *testing.T) {
	base := t.TempDir()
	writeTree(t, filepath.Join(base, "real", "in"), map[string]string{"a": "1", "d/b": "2"})
	writeTree(t, filepath.Join(base, "links", "in"), map[string]string{
		"a": "->" + filepath.Join(base, "real", "in", "a"),
		"d": "->" + filepath.Join(base, "real", "in", "d"),
	})
	writeTree(t, filepath.Join(base, "other", "in"), map[string]string{"a": "1", "d/b": "3"})
	hashIn := func(dir string) *scanResult {
		t.Helper()
		t.Chdir(filepath.Join(base, dir))
		res, err := scan([]string{"in"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	real, links, other := hashIn("real"), hashIn("links"), hashIn("other")
	if real.files != 2 || links.files != 2 {
		t.Errorf("got %d and %d files, want 2 and 2", real.files, links.files)
	}
	if real.hash != links.hash {
		t.Errorf("got hash %s through symlinks, want %s as for copies", links.hash, real.hash)
	}
	if real.hash == other.hash {
		t.Errorf("got the same hash %s for different content", real.hash)
	}
}

func TestNetworkBlocked(t *testing.T) {
	const devHeader = "Inter-|   Receive\n face |bytes    packets\n"
	const v4Header = "Iface\tDestination\tGateway\n"
	v6 := func(dev string) string {
		return "00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000001 00000000 80200001 " + dev + "\n"
	}
	for _, tc := range []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"only lo", map[string]string{
			"proc/dev": devHeader + "    lo: 0 0\n", "proc/route": v4Header, "proc/ipv6_route": v6("lo"),
		}, ""},
		{"down tunnel and no ipv6", map[string]string{
			"proc/dev": devHeader + "    lo: 0 0\n stress-tunl0: 0 0\n", "proc/route": v4Header,
			"sys/stress-tunl0/flags": "0x80\n",
		}, ""},
		{"interface up", map[string]string{
			"proc/dev": devHeader + "    lo: 0 0\n stress-eth0: 0 0\n", "proc/route": v4Header,
			"sys/stress-eth0/flags": "0x1003\n",
		}, "interface stress-eth0 is up"},
		{"unknown interface fails closed", map[string]string{
			"proc/dev": devHeader + "    lo: 0 0\n stress-eth9: 0 0\n", "proc/route": v4Header,
		}, "interface stress-eth9 is up"},
		{"ipv4 route", map[string]string{
			"proc/dev": devHeader + "    lo: 0 0\n", "proc/route": v4Header + "eth0\t00000000\t0100000A\n",
		}, "route via eth0"},
		{"ipv6 route", map[string]string{
			"proc/dev": devHeader + "    lo: 0 0\n", "proc/route": v4Header, "proc/ipv6_route": v6("lo") + v6("eth1"),
		}, "route via eth1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			err := networkBlocked(filepath.Join(dir, "proc"), filepath.Join(dir, "sys"))
			if tc.wantErr == "" && err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLocalhostInHosts(t *testing.T) {
	for _, tc := range []struct {
		hosts string
		ok    bool
	}{
		{"127.0.0.1\tlocalhost\n", true},
		{"127.0.0.1 box localhost.localdomain localhost # main\n", true},
		{"# 127.0.0.1 localhost\n", false},
		{"::1 localhost\n127.0.1.1 localhost\n", false},
	} {
		p := filepath.Join(t.TempDir(), "hosts")
		if err := os.WriteFile(p, []byte(tc.hosts), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := localhostInHosts(p); (err == nil) != tc.ok {
			t.Errorf("hosts %q: got error %v, want ok=%v", tc.hosts, err, tc.ok)
		}
	}
}

func TestLoopbackWorks(t *testing.T) {
	if err := loopbackWorks(); err != nil {
		t.Fatalf("got %v on the host, want loopback to work", err)
	}
}

// TestRunOutputsIgnoreChecks checks the design rule that outputs depend only
// on the flags and inputs: an unenforced failing check changes nothing, an
// enforced one fails the action.
func TestRunOutputsIgnoreChecks(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeTree(t, dir, map[string]string{"in/a": "x"})
	failing := check{name: "expect-failure", run: func() error { return os.ErrPermission }}
	passing := check{name: "expect-failure", run: func() error { return nil }}
	mk := func(out string, c check) *config {
		return &config{
			scans: []string{"in"}, outFile: out + "/f", outDir: out + "/d", outCount: 2,
			outName: "file_%04d.txt", outBytes: 300, symlinks: []string{out + "/d/l"},
			symlinkTargets: []string{"file_0000.txt"}, exerciseFS: true, checks: []check{c},
		}
	}
	if err := run(mk("a", failing), false); err != nil {
		t.Fatalf("unenforced failing check: got %v, want success", err)
	}
	if err := run(mk("b", passing), true); err != nil {
		t.Fatalf("enforced passing check: got %v, want success", err)
	}
	if err := run(mk("c", failing), true); err == nil {
		t.Fatal("enforced failing check: got success, want an error")
	}
	for _, p := range []string{"f", "d/file_0000.txt", "d/file_0001.txt"} {
		a, errA := os.ReadFile(filepath.Join("a", p))
		b, errB := os.ReadFile(filepath.Join("b", p))
		if errA != nil || errB != nil || string(a) != string(b) {
			t.Errorf("%s: got %q (%v) and %q (%v), want equal outputs", p, a, errA, b, errB)
		}
	}
	if got, _ := os.ReadFile("a/d/file_0001.txt"); len(got) != 300 {
		t.Errorf("got %d bytes, want --out-bytes 300", len(got))
	}
	if got, err := os.Readlink("a/d/l"); err != nil || got != "file_0000.txt" {
		t.Errorf("got symlink %q (%v), want file_0000.txt", got, err)
	}
	if entries, _ := os.ReadDir("a"); len(entries) != 2 {
		t.Errorf("got %d entries in the output dir, want 2 (the scratch dir must be gone)", len(entries))
	}
}
