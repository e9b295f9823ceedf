package cli_test

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/cli"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		wantExit   int
		wantOK     bool
		wantStderr string
	}{
		{"flags only", []string{"--n=3"}, 0, true, ""},
		{"help", []string{"-help"}, 0, false, "Usage of x"},
		{"unknown flag", []string{"--bogus"}, 2, false, "flag provided but not defined: -bogus"},
		{"argument left over", []string{"--n=1", "extra"}, 2, false, `tool cmd: unexpected arguments ["extra"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(&stderr)
			fs.Int("n", 0, "a number")
			exit, ok := cli.ParseFlags(fs, tc.args, "tool cmd", &stderr)
			if exit != tc.wantExit || ok != tc.wantOK {
				t.Errorf("ParseFlags(%q) = %d, %v; want %d, %v", tc.args, exit, ok, tc.wantExit, tc.wantOK)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}
