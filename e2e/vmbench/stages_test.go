package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
