package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool (go list) to list the packages")
	}
	for _, tc := range []struct {
		pkg       string
		wantError string // in the report; "" when the package must pass
	}{
		{"./testdata/good", ""},
		{"./testdata/bad", "cannot use 3 (untyped int constant) as string value in argument to vz.WithInitrd"},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			var report bytes.Buffer
			err := check([]string{tc.pkg}, &report)
			if tc.wantError == "" {
				if err != nil {
					t.Fatalf("check(%s) = %v; report:\n%s", tc.pkg, err, report.String())
				}
				return
			}
			if err == nil || !strings.Contains(report.String(), tc.wantError) {
				t.Fatalf("check(%s) = %v, report:\n%s\nwant an error and %q in the report", tc.pkg, err, report.String(), tc.wantError)
			}
		})
	}
}
