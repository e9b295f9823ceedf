package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// findVirtioPort returns the device node of the virtio-serial port whose
// name (sysPorts/<port>/name, /sys/class/virtio-ports in the guest) is name.
func findVirtioPort(sysPorts, devDir, name string) (string, error) {
	entries, err := os.ReadDir(sysPorts)
	if err != nil {
		return "", fmt.Errorf("no virtio-serial ports (is the kernel built with VIRTIO_CONSOLE?): %w", err)
	}
	var names []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(sysPorts, e.Name(), "name"))
		if err != nil {
			continue
		}
		n := strings.TrimSpace(string(b))
		if n == name {
			return filepath.Join(devDir, e.Name()), nil
		}
		names = append(names, n)
	}
	return "", fmt.Errorf("no virtio-serial port is named %q (found %q): check the host's virtserialport name", name, names)
}
