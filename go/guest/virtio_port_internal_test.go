package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindVirtioPort(t *testing.T) {
	sys := t.TempDir()
	for port, name := range map[string]string{"vport0p0": "", "vport0p1": "org.qemu.guest_agent.0\n", "vport1p1": "actiond\n"} {
		dir := filepath.Join(sys, port)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if name != "" {
			if err := os.WriteFile(filepath.Join(dir, "name"), []byte(name), 0o444); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := findVirtioPort(sys, "/dev", "actiond")
	if err != nil || got != "/dev/vport1p1" {
		t.Errorf("findVirtioPort(actiond) = %q, %v; want /dev/vport1p1", got, err)
	}
	if _, err := findVirtioPort(sys, "/dev", "other"); err == nil || !strings.Contains(err.Error(), `no virtio-serial port is named "other"`) {
		t.Errorf("findVirtioPort(other) error = %v", err)
	}
	if _, err := findVirtioPort(filepath.Join(sys, "missing"), "/dev", "actiond"); err == nil || !strings.Contains(err.Error(), "no virtio-serial ports") {
		t.Errorf("findVirtioPort without the class directory error = %v", err)
	}
}
