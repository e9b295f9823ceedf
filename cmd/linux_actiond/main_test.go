package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/cli"
)

func TestRunArguments(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOutput string // in stdout or stderr
	}{
		{"no arguments", nil, 2, "Usage:"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "linux_actiond " + cli.Version},
		{"help", []string{"help"}, 0, "linux_actiond serve [flags]"},
		{"help serve", []string{"help", "serve"}, 0, "-max-cas-bytes"},
		{"unknown flag", []string{"serve", "--no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
		{"stray argument", []string{"serve", "extra"}, 2, "unexpected arguments"},
		{"bad log level", []string{"serve", "--log-level=loud"}, 2, `--log-level "loud"`},
		{"bad log format", []string{"serve", "--log-format=xml"}, 2, `--log-format "xml"`},
		{"zero jobs", []string{"serve", "--jobs=0"}, 2, "--jobs must be at least 1"},
		{"negative cas", []string{"serve", "--max-cas-bytes=-1"}, 2, "--max-cas-bytes must not be negative"},
		{"image and dir", []string{"serve", "--runtime-image=a", "--runtime-dir=b"}, 2, "not both"},
		{"help doctor", []string{"help", "doctor"}, 0, "3 serve cannot"},
		{"doctor stray argument", []string{"doctor", "extra"}, 2, "unexpected arguments"},
		{"bad listen address", []string{"serve", "--root=" + t.TempDir(), "--no-execution", "--listen=127.0.0.1:99999"}, 1, "listen failed"},
		{"all interfaces without TLS", []string{"serve", "--listen=0.0.0.0:8980"}, 2, "add --tls-cert=FILE --tls-key=FILE and --tls-client-ca=FILE (or --insecure-no-client-auth"},
		{"non-loopback TLS without client auth", []string{"serve", "--listen=0.0.0.0:8980", "--tls-cert=c.pem", "--tls-key=k.pem"}, 2, "add --tls-client-ca=FILE"},
		{"unreadable certificate", []string{"serve", "--tls-cert=/nonexistent/c.pem", "--tls-key=/nonexistent/k.pem"}, 2, "--tls-cert /nonexistent/c.pem"},
		{"help serve lists TLS", []string{"help", "serve"}, 0, "-insecure-no-client-auth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(tc.args, &stdout, &stderr)
			if got != tc.wantCode {
				t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tc.args, got, tc.wantCode, stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tc.wantOutput) {
				t.Errorf("run(%q) output does not contain %q:\n%s", tc.args, tc.wantOutput, out)
			}
		})
	}
}
