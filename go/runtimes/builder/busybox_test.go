package builder_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/actiond/actiond/go/runtimes"
	"github.com/actiond/actiond/go/runtimes/builder"
)

func TestBuildShellWithBusybox(t *testing.T) {
	bash := makeDeb(t, "bash-static", "amd64", map[string]string{"bin/bash-static": "#!static bash\n"})
	busybox := makeDeb(t, "busybox-static", "amd64", map[string]string{"bin/busybox": "#!static busybox\n", "bin/sed": "#!a real sed\n"})
	out := filepath.Join(t.TempDir(), "bash")
	if _, err := builder.Build(context.Background(), builder.Options{
		Name: "bash", Kind: runtimes.KindShell, Arch: "x86_64", Debs: []string{bash, busybox}, Out: out,
	}); err != nil {
		t.Fatalf("Build: %v", err)
	}
	busyboxInfo, err := os.Stat(filepath.Join(out, "root/bin/busybox"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path        string
		wantBusybox bool
	}{
		{"root/bin/cat", true},
		{"root/usr/bin/cat", true},
		{"root/bin/sha256sum", true},
		{"root/usr/bin/which", true},
		{"root/bin/xzcat", true},
		{"root/bin/sed", false}, // a package's own file wins
		{"root/bin/bash", false},
	}
	for _, tc := range tests {
		info, err := os.Stat(filepath.Join(out, tc.path))
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if got := os.SameFile(info, busyboxInfo); got != tc.wantBusybox {
			t.Errorf("%s is a link of busybox = %v, want %v", tc.path, got, tc.wantBusybox)
		}
	}
}
