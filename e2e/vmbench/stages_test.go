package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestActionDone(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		ok         bool
		want       map[string]string
	}{
		{"serve JSON", `{"msg":"action done","setup_ms":1.5,"cached":false}`, true, map[string]string{"setup_ms": "1.5", "cached": "false"}},
		{"serve-vm guest line", `{"msg":"guest","line":"time=2026-12-07T10:12:54Z level=INFO msg=\"action done\" action_digest=ab/3 setup_ms=2.25 error=\"a b\""}`, true,
			map[string]string{"setup_ms": "2.25", "action_digest": "ab/3", "error": "a b", "msg": "action done"}},
		{"other guest line", `{"msg":"guest","line":"level=INFO msg=serving"}`, false, nil},
		{"other record", `{"msg":"serving"}`, false, nil},
		{"not JSON", `SeaBIOS`, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := actionDone(tc.line)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestStagesRowSkipsCacheHits(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	lines := []string{
		`{"msg":"action done","cached":false,"setup_ms":1,"total_ms":10}`,
		`{"msg":"action done","cached":true,"setup_ms":0,"total_ms":0}`,
		`{"msg":"action done","cached":false,"setup_ms":3,"total_ms":30}`,
	}
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	row, err := stagesRow(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(row, "2 |") || !strings.Contains(row, "1.0 / 3.0") || !strings.HasSuffix(row, "10.0 / 30.0") {
		t.Errorf("row = %q, want 2 actions, setup 1.0 / 3.0, total 10.0 / 30.0", row)
	}
}
