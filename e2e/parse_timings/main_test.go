package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	log := strings.Join([]string{
		`{"msg":"serving"}`,
		`{"msg":"action done","cached":false,"queue_ms":0,"input_ms":1,"spawn_ms":1,"run_ms":10,"total_ms":20}`,
		`{"msg":"action done","cached":true,"input_ms":0,"total_ms":0.1}`,
		`{"msg":"action done","cached":false,"queue_ms":5,"input_ms":3,"spawn_ms":1,"run_ms":30,"total_ms":40}`,
		`{"msg":"action done","cached":false,"queue_ms":1,"input_ms":2,"spawn_ms":2,"run_ms":20,"total_ms":30}`,
	}, "\n")
	for _, tc := range []struct {
		name  string
		args  []string
		input string
		want  []string
	}{
		{"stdin without cache hits", nil, log, []string{
			"| input | 3 | 1.00 | 2.00 | 3.00 | 2.00 | 3.00 |",
			"| total | 3 | 20.00 | 30.00 | 40.00 | 30.00 | 40.00 |",
			"| " + overheadLabel + " | 3 | 4.00 | 7.00 | 9.00 | 6.67 | 9.00 |",
		}},
		{"all", []string{"-all"}, log, []string{
			"| input | 4 | 0.00 | 1.00 | 3.00 | 1.50 | 3.00 |",
			"| total | 4 | 0.10 | 20.00 | 40.00 | 22.52 | 40.00 |",
			"| " + overheadLabel + " | 3 |",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(tc.args, strings.NewReader(tc.input), &out); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "| setup |") {
				t.Errorf("a stage no record has is shown:\n%s", out.String())
			}
		})
	}
}

func TestRunFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, []byte(`{"msg":"action done","input_ms":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte(`{"msg":"action done","input_ms":5}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{a, b}, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	if want := "| input | 2 | 1.00 | 1.00 | 5.00 | 3.00 | 5.00 |"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
}

func TestRunErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		input string
		want  string
	}{
		{"no records", nil, `{"msg":"serving"}`, "no \"action done\" records"},
		{"only cache hits", nil, `{"msg":"action done","cached":true}`, "no \"action done\" records"},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope")}, "", "no such file"},
		{"bad flag", []string{"-x"}, "", "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, strings.NewReader(tc.input), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
