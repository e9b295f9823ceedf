//go:build linux

package initproc

import (
	"reflect"
	"testing"
)

func TestConfigRoundTrip(t *testing.T) {
	want := Config{
		Root: "/r", Args: []string{"a", "", "c d"}, Env: []string{"X=1"}, Dir: "/w", Stdout: "/o", Stderr: "/e", UID: 65534, GID: 65533, Rootless: true,
		Mounts: []Mount{
			{Kind: Bind, Source: "/s", Target: "/t", ReadOnly: true},
			{Kind: Overlay, Target: "/o", Lower: []string{"/l1", "/l2"}, Upper: "/u", Work: "/w", LockInputs: true},
			{Kind: Tmpfs, Target: "/tmp2"},
		},
	}
	b := want.Marshal()
	var got Config
	if err := got.unmarshal(b); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for n := 0; n < len(b); n++ {
		var c Config
		if err := c.unmarshal(b[:n]); err == nil {
			t.Errorf("unmarshal of the first %d of %d bytes succeeded, want an error", n, len(b))
		}
	}
}

func TestReportsRoundTrip(t *testing.T) {
	want := []Report{
		{Kind: ReportStarted, Mono: 123456789, Forked: 123400000},
		{Kind: ReportExit, ExitCode: 137, Signal: 9},
		{Kind: ReportSetup, Error: "mount: no such file"},
	}
	var b []byte
	for _, r := range want {
		b = r.appendTo(b)
	}
	got, err := ParseReports(b)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseReports = %+v, %v; want %+v", got, err, want)
	}
	if _, err := ParseReports(b[:len(b)-1]); err == nil {
		t.Error("ParseReports of a torn stream succeeded, want an error")
	}
}
