package guest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/guest"
)

// fakeDisks makes devDir/<name> files (squashfs ones start with its magic)
// and sysBlock/<name> directories.
func fakeDisks(t *testing.T, disks map[string]bool) (devDir, sysBlock string) {
	t.Helper()
	root := t.TempDir()
	devDir, sysBlock = filepath.Join(root, "dev"), filepath.Join(root, "sys", "block")
	for _, d := range []string{devDir, sysBlock} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, squash := range disks {
		content := make([]byte, 4096)
		if squash {
			copy(content, "hsqs")
		}
		if err := os.WriteFile(filepath.Join(devDir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(sysBlock, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return devDir, sysBlock
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name        string
		disks       map[string]bool // name -> holds squashfs
		given       guest.Disks     // names relative to devDir
		wantCAS     string
		wantRuntime string
		wantErr     string
	}{
		{name: "virtio", disks: map[string]bool{"vda": false, "vdb": true}, wantCAS: "vda", wantRuntime: "vdb"},
		{name: "runtime first", disks: map[string]bool{"vda": true, "vdb": false}, wantCAS: "vdb", wantRuntime: "vda"},
		{name: "scsi", disks: map[string]bool{"sda": false, "sdb": true}, wantCAS: "sda", wantRuntime: "sdb"},
		{name: "nvme", disks: map[string]bool{"nvme0n1": false}, wantCAS: "nvme0n1"},
		{name: "only from sys block", disks: map[string]bool{"xvda": false, "xvdb": true}, wantCAS: "xvda", wantRuntime: "xvdb"},
		{name: "loop devices ignored", disks: map[string]bool{"loop0": false, "vda": true}, wantErr: "no CAS disk found"},
		{name: "first non-squashfs wins", disks: map[string]bool{"vda": false, "vdb": false, "vdc": true}, wantCAS: "vda", wantRuntime: "vdc"},
		{name: "given CAS is not probed", disks: map[string]bool{"vda": false, "vdb": false, "vdc": true}, given: guest.Disks{CAS: "vdb"}, wantCAS: "vdb", wantRuntime: "vdc"},
		{name: "given both", disks: map[string]bool{"vda": false}, given: guest.Disks{CAS: "x", Runtime: "y"}, wantCAS: "x", wantRuntime: "y"},
		{name: "no disk", disks: map[string]bool{}, wantErr: "no CAS disk found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devDir, sysBlock := fakeDisks(t, tt.disks)
			abs := func(n string) string {
				if n == "" {
					return ""
				}
				return filepath.Join(devDir, n)
			}
			got, err := guest.Probe(devDir, sysBlock, guest.Disks{CAS: abs(tt.given.CAS), Runtime: abs(tt.given.Runtime)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Probe = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := (guest.Disks{CAS: abs(tt.wantCAS), Runtime: abs(tt.wantRuntime)}); got != want {
				t.Errorf("Probe = %+v, want %+v", got, want)
			}
		})
	}
}
