package statuspage_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/actiond/actiond/go/activity"
	"github.com/actiond/actiond/go/digest"
	"github.com/actiond/actiond/go/statuspage"
)

var stderrBlob = []byte("error: <b>boom</b>\n")

type fakeSource struct{ snap activity.Snapshot }

func (f fakeSource) Snapshot(context.Context) (activity.Snapshot, error) { return f.snap, nil }

func (f fakeSource) ReadBlob(_ context.Context, d digest.Digest, limit int64) ([]byte, error) {
	if d != digest.OfBytes(stderrBlob) {
		return nil, errors.New("not found")
	}
	return stderrBlob, nil
}

func testSnapshot() activity.Snapshot {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	sd := digest.OfBytes(stderrBlob)
	return activity.Snapshot{
		Version: "9.9.9", Mode: "linux sandbox", StartedAt: now.Add(-time.Hour), Now: now,
		CAS:     activity.CASUsage{Bytes: 512 << 20, MaxBytes: 1 << 30, Blobs: 1234},
		Summary: activity.Summary{Jobs: 4, Libcs: []string{"glibc2.36"}},
		Active: []activity.Action{
			{ID: 5, State: "running", Mnemonic: "CppCompile", Argv0: "/usr/bin/gcc", Queued: now.Add(-90 * time.Second)},
			{ID: 6, State: "queued", Argv0: "<script>alert(1)</script>", Queued: now.Add(-time.Second)},
		},
		Finished: []activity.Action{
			{ID: 4, State: "done", Argv0: "/bin/bash", Outcome: "nonzero_exit", ExitCode: 1, Stderr: sd.Hash + "/" + "19", Queued: now.Add(-3 * time.Second), Finished: now.Add(-2 * time.Second), Stages: activity.Stages{Run: 250 * time.Millisecond}},
		},
		Outcomes: map[string]int64{"nonzero_exit": 1},
	}
}

func get(t *testing.T, h http.Handler, host, path string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Host = host
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHandlerPages checks each route: what the page shows (and escapes),
// the JSON, stderr as inert text, metrics, and the refusal of requests not
// addressed to loopback.
func TestHandlerPages(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "actiond_test_total", Help: "a test counter"})
	reg.MustRegister(c)
	c.Add(7)
	h := statuspage.Handler(fakeSource{testSnapshot()}, reg, slog.New(slog.DiscardHandler))
	sd := digest.OfBytes(stderrBlob)

	tests := []struct {
		name, host, path string
		code             int
		contentType      string
		want, notWant    []string
	}{
		{
			name: "page", host: "127.0.0.1:9090", path: "/", code: 200, contentType: "text/html",
			want: []string{`http-equiv="refresh"`, "CppCompile", "/usr/bin/gcc", "1m30s", "&lt;script&gt;", "nonzero_exit",
				`href="stderr/` + sd.Hash + `/19"`, "512 MiB", "1.0 GiB", "libc=glibc2.36", "version 9.9.9", "up 1h00m", "1 running, 1 queued"},
			notWant: []string{"<script>", "src=\"http", "href=\"http"},
		},
		{name: "json", host: "localhost:9090", path: "/status.json", code: 200, contentType: "application/json", want: []string{`"mnemonic":"CppCompile"`}},
		{name: "stderr", host: "[::1]:9090", path: "/stderr/" + sd.Hash + "/19", code: 200, contentType: "text/plain", want: []string{"<b>boom</b>"}},
		{name: "unknown blob", host: "127.0.0.1", path: "/stderr/" + digest.Empty.Hash + "/0", code: 404},
		{name: "bad digest", host: "127.0.0.1", path: "/stderr/xyz/19", code: 400},
		{name: "bad size", host: "127.0.0.1", path: "/stderr/" + sd.Hash + "/-1", code: 400},
		{name: "metrics", host: "127.0.0.1:9090", path: "/metrics", code: 200, want: []string{"actiond_test_total 7"}},
		{name: "rebound host", host: "attacker.example:9090", path: "/", code: http.StatusMisdirectedRequest},
		{name: "unknown path", host: "127.0.0.1", path: "/nope", code: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, h, tc.host, tc.path)
			b := body(t, r)
			if r.StatusCode != tc.code {
				t.Fatalf("GET %s (Host %s) = %d, want %d: %s", tc.path, tc.host, r.StatusCode, tc.code, b)
			}
			if tc.contentType != "" && !strings.HasPrefix(r.Header.Get("Content-Type"), tc.contentType) {
				t.Errorf("Content-Type = %q, want %s", r.Header.Get("Content-Type"), tc.contentType)
			}
			for _, w := range tc.want {
				if !strings.Contains(b, w) {
					t.Errorf("response lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(b, w) {
					t.Errorf("response holds %q", w)
				}
			}
			if tc.code == 200 && r.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("X-Frame-Options = %q, want DENY", r.Header.Get("X-Frame-Options"))
			}
		})
	}
	var snap activity.Snapshot
	if err := json.Unmarshal([]byte(body(t, get(t, h, "127.0.0.1", "/status.json"))), &snap); err != nil || len(snap.Active) != 2 {
		t.Errorf("status.json decodes to %d active actions (err %v), want 2", len(snap.Active), err)
	}
	if csp := get(t, h, "127.0.0.1", "/stderr/"+sd.Hash+"/19").Header.Get("Content-Security-Policy"); csp != "default-src 'none'" {
		t.Errorf("stderr Content-Security-Policy = %q, want default-src 'none'", csp)
	}
}

func TestListenIsLoopbackOnly(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"localhost:0", true},
		{"0.0.0.0:0", false},
		{":0", false},
		{"192.0.2.1:9090", false},
		{"127.0.0.1", false},
	}
	for _, tc := range tests {
		l, err := statuspage.Listen(tc.addr)
		if l != nil {
			l.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("Listen(%q) error = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	if err := statuspage.WriteText(&b, testSnapshot(), 5); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"actiond 9.9.9, linux sandbox, up 1h00m, 4 job slots", "CAS: 512 MiB of 1.0 GiB (50%), 1234 blobs", "Runtimes: libc=glibc2.36", "running  CppCompile", "1m30s", "nonzero_exit", "Last finished: 1 of 1 kept"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}
