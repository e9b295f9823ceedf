package activity_test

import (
	"strings"
	"testing"

	"github.com/actiond/actiond/go/activity"
)

func TestSummaryText(t *testing.T) {
	full := activity.Summary{
		Root: "/var/cache/actiond", CASBytes: 3 << 30, CASMaxBytes: 40 << 30, Execution: true, Jobs: 8,
		Libcs: []string{"glibc2.36", "glibc2.9", "glibc2.31"}, Rootfs: []string{"gcc12"}, Bash: true,
		MemoryLimits: true, PidsLimits: true,
	}
	for _, tc := range []struct {
		name          string
		s             activity.Summary
		want, notWant []string
	}{
		{
			name: "execution with runtimes",
			s:    full,
			want: []string{
				"actiond is serving on 127.0.0.1:8980\n",
				"state:    /var/cache/actiond (CAS 3.0 GiB of 40 GiB)",
				"actions:  8 at once, sandboxed as root",
				"runtimes: libc=glibc2.36|glibc2.9|glibc2.31, runtime=gcc12, requires-bash",
				"limits:   memory, pids enforced; cpu not (cgroup v2 controllers missing)",
				"    build:actiond --remote_executor=grpc://127.0.0.1:8980\n",
				"    build:actiond --remote_default_exec_properties=requires-bash=\n",
				// The newest libc by version, not by bytes.
				"    build:actiond --remote_default_exec_properties=libc=glibc2.36\n",
			},
		},
		{
			name:    "no runtime image, rootless, no limits",
			s:       activity.Summary{Root: "/r", Execution: true, Jobs: 2, Rootless: true},
			want:    []string{"sandboxed as rootless", "runtimes: none (start with --runtime-image", "limits:   no cgroup v2 controllers: memory, cpu and pids limits are not enforced"},
			notWant: []string{"exec_properties"},
		},
		{
			name: "TLS with client certificates",
			s:    activity.Summary{Root: "/r", Execution: true, Jobs: 2, TLS: &activity.SummaryTLS{ServerCA: "/etc/actiond/server.pem", ClientAuth: true}},
			want: []string{
				"    build:actiond --remote_executor=grpcs://127.0.0.1:8980\n",
				"    build:actiond --tls_certificate=/etc/actiond/server.pem\n",
				"    build:actiond --tls_client_certificate=CLIENT_CERT.pem --tls_client_key=CLIENT_KEY.pem\n",
			},
			notWant: []string{"grpc://"},
		},
		{
			name:    "TLS cache only, server cert signed by a CA, no client auth",
			s:       activity.Summary{Root: "/r", TLS: &activity.SummaryTLS{}},
			want:    []string{"    build:actiond --remote_cache=grpcs://127.0.0.1:8980\n", "    build:actiond --tls_certificate=CA_OF_THE_SERVER_CERT.pem\n"},
			notWant: []string{"grpc://", "tls_client"},
		},
		{
			name:    "cache only",
			s:       activity.Summary{Root: "/r"},
			want:    []string{"remote cache only (--no-execution)", "    build:actiond --remote_cache=grpc://127.0.0.1:8980\n"},
			notWant: []string{"remote_executor", "runtimes:", "grpcs://", "tls_"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.Text("127.0.0.1:8980")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("summary:\n%s\ndoes not contain %q", got, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("summary:\n%s\ncontains %q", got, w)
				}
			}
		})
	}
}
